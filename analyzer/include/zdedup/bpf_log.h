#pragma once
// One line from libbpf's log of a failed load: which program the kernel
// refused and why, and whose fault that is.  libbpf prints the verifier log
// of the failing program between "-- BEGIN PROG LOAD LOG --" and "-- END PROG
// LOAD LOG --", and rewrites an instruction it poisoned because a CO-RE
// relocation found no match into "failed to resolve CO-RE relocation ...".

#include <string>

namespace zdedup {

struct LoadFailure {
  std::string program;  // the program libbpf named, "" if none
  std::string reason;   // the verifier's or libbpf's decisive line, "" if none
  // A CO-RE relocation or a verifier rejection: the programs should load on
  // every kernel with BTF, so that is zdedup's bug, not a kernel limitation.
  bool zdedup_bug = false;
};

// Parses the text libbpf printed while a load failed.
LoadFailure parse_load_failure(const std::string& libbpf_log);

// "program P: REASON (a zdedup bug on this kernel: ...)" or "" when the log
// names nothing.
std::string describe(const LoadFailure& f);

}  // namespace zdedup
