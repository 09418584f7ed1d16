#include "zdedup/bpf_log.h"

#include <sstream>
#include <vector>

namespace zdedup {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// Verifier summary lines that follow the decisive one.
bool is_summary(const std::string& line) {
  return line.rfind("processed ", 0) == 0 || line.rfind("verification time", 0) == 0 ||
         line.rfind("stack depth", 0) == 0 || line.rfind("-- END PROG LOAD LOG --", 0) == 0;
}

}  // namespace

LoadFailure parse_load_failure(const std::string& log) {
  LoadFailure f;
  std::istringstream in(log);
  std::string line, core, last_verifier, libbpf_reason;
  bool in_log = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    const auto prog = t.find("prog '");
    if (prog != std::string::npos) {
      const auto end = t.find('\'', prog + 6);
      if (end != std::string::npos && f.program.empty()) f.program = t.substr(prog + 6, end - prog - 6);
    }
    if (t.find("-- BEGIN PROG LOAD LOG --") != std::string::npos) {
      in_log = true;
      continue;
    }
    if (t.find("-- END PROG LOAD LOG --") != std::string::npos) {
      in_log = false;
      continue;
    }
    if (t.find("failed to resolve CO-RE relocation") != std::string::npos && core.empty()) core = t;
    if (in_log && !t.empty() && !is_summary(t)) last_verifier = t;
    // libbpf's own refusal when no verifier log came (e.g. a missing kfunc).
    if (!in_log && libbpf_reason.empty() && t.find("libbpf: ") == 0 &&
        (t.find("failed") != std::string::npos || t.find("not found") != std::string::npos) &&
        t.find("failed to load object") == std::string::npos && t.find("failed to load: ") == std::string::npos)
      libbpf_reason = t.substr(8);
    // "prog 'NAME': reason": the name is reported on its own.
    if (libbpf_reason.rfind("prog '", 0) == 0) {
      const auto colon = libbpf_reason.find("': ");
      if (colon != std::string::npos) libbpf_reason = libbpf_reason.substr(colon + 3);
    }
  }
  if (!core.empty()) {
    f.reason = core;
    f.zdedup_bug = true;
  } else if (!last_verifier.empty()) {
    f.reason = last_verifier;
    f.zdedup_bug = true;
  } else {
    f.reason = libbpf_reason;
  }
  return f;
}

std::string describe(const LoadFailure& f) {
  if (f.program.empty() && f.reason.empty()) return "";
  std::string s = f.program.empty() ? std::string("the verifier") : "program " + f.program;
  if (!f.reason.empty()) s += ": " + f.reason;
  if (f.zdedup_bug)
    s += " (a zdedup bug on this kernel, not a missing kernel feature: please report it with `uname -r`)";
  return s;
}

}  // namespace zdedup
