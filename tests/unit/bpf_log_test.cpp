// parse_load_failure() on logs in the form libbpf 1.1 prints them (the
// pr_warn() lines of bpf_object_load_prog() and fixup_log_failed_core_relo()).
#include <gtest/gtest.h>

#include "zdedup/bpf_log.h"

namespace zdedup {
namespace {

// What zdedup 0.x printed on stock 7.2 before folio.flags was read through a
// flavour struct (the case of issue 13), shortened to the lines that matter.
const char* kCoreFailure =
    "libbpf: prog 'zswap_load_exit': BPF program load failed: Invalid argument\n"
    "libbpf: prog 'zswap_load_exit': -- BEGIN PROG LOAD LOG --\n"
    "reg type unsupported for arg#0 function zswap_load_exit#41\n"
    "0: R1=ctx(off=0,imm=0) R10=fp0\n"
    "; int BPF_PROG(zswap_load_exit)\n"
    "47: (85) call unknown#195896080\n"
    "47: <invalid CO-RE relocation>\n"
    "failed to resolve CO-RE relocation <byte_off> [137] struct folio.flags (0:0 @ offset 0)\n"
    "processed 61 insns (limit 1000000) max_states_per_insn 0 total_states 4 peak_states 4 mark_read 3\n"
    "-- END PROG LOAD LOG --\n"
    "libbpf: prog 'zswap_load_exit': failed to load: -22\n"
    "libbpf: failed to load object 'zdedup_bpf'\n"
    "libbpf: failed to load BPF skeleton 'zdedup_bpf': -22\n";

TEST(BpfLog, NamesTheProgramAndTheRelocationThatFailed) {
  LoadFailure f = parse_load_failure(kCoreFailure);
  EXPECT_EQ(f.program, "zswap_load_exit");
  EXPECT_EQ(f.reason, "failed to resolve CO-RE relocation <byte_off> [137] struct folio.flags (0:0 @ offset 0)");
  EXPECT_TRUE(f.zdedup_bug);
  const std::string d = describe(f);
  EXPECT_EQ(d.find('\n'), std::string::npos) << d;
  EXPECT_EQ(d.rfind("program zswap_load_exit: failed to resolve CO-RE relocation", 0), 0u) << d;
  EXPECT_NE(d.find("a zdedup bug"), std::string::npos) << d;
}

TEST(BpfLog, TakesTheVerifierLineBeforeItsSummary) {
  const std::string log =
      "libbpf: prog 'zswap_store_exit': BPF program load failed: Permission denied\n"
      "libbpf: prog 'zswap_store_exit': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx(off=0,imm=0) R10=fp0\n"
      "12: (79) r1 = *(u64 *)(r6 +0)\n"
      "R6 invalid mem access 'scalar'\n"
      "processed 13 insns (limit 1000000) max_states_per_insn 0 total_states 1\n"
      "-- END PROG LOAD LOG --\n"
      "libbpf: prog 'zswap_store_exit': failed to load: -13\n";
  LoadFailure f = parse_load_failure(log);
  EXPECT_EQ(f.program, "zswap_store_exit");
  EXPECT_EQ(f.reason, "R6 invalid mem access 'scalar'");
  EXPECT_TRUE(f.zdedup_bug);
}

TEST(BpfLog, WithoutAVerifierLogKeepsLibbpfsOwnReason) {
  const std::string log =
      "libbpf: prog 'zswap_invalidate_entry': failed to find kernel BTF type ID of 'zswap_invalidate': -3\n"
      "libbpf: prog 'zswap_invalidate_entry': failed to prepare load attributes: -3\n"
      "libbpf: failed to load object 'zdedup_bpf'\n";
  LoadFailure f = parse_load_failure(log);
  EXPECT_EQ(f.program, "zswap_invalidate_entry");
  EXPECT_EQ(f.reason, "failed to find kernel BTF type ID of 'zswap_invalidate': -3");
  EXPECT_FALSE(f.zdedup_bug);
}

TEST(BpfLog, AnEmptyLogSaysNothing) {
  EXPECT_EQ(describe(parse_load_failure("")), "");
  EXPECT_EQ(describe(parse_load_failure("libbpf: some unrelated note\n")), "");
}

}  // namespace
}  // namespace zdedup
