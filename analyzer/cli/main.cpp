// zdedup: the command-line shell over the analyzer library.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "commands.h"
#include "zdedup/error.h"

namespace zdedup::cli {

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
  const std::string want =
      "a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const bool digits = !text.empty() && text.size() <= 20 &&
                            text.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        const unsigned long long v = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
        if (!digits || errno == ERANGE || v < min || v > max)
          return "expected " + want + ", got '" + text + "'";
        return "";
      },
      "UINT", "whole_number");
}

void add_dedup_scope(CLI::App* c, bool& global, const std::string& what) {
  CLI::Option* scope =
      c->add_option_function<std::string>(
            "--dedup-scope", [&global](const std::string& v) { global = v == "global"; },
            "Who shares with whom, as zswap.dedup_scope: memcg (per memory cgroup, the "
            "default) or global (across cgroups)" + what)
          ->check(CLI::IsMember({"memcg", "global"}))
          ->default_str("memcg");
  old_name(c, c->add_flag("--global", global), scope);
}

void old_name(CLI::App* c, CLI::Option* old, CLI::Option* current) {
  old->group("");
  // Not excludes(): CLI11 names a hidden option '' in its message.
  const std::string why = "--" + old->get_lnames().at(0) + " is the old name of --" +
                          current->get_lnames().at(0) + ": give one";
  c->parse_complete_callback([old, current, why] {
    if (old->count() && current->count()) throw CLI::ValidationError(why);
  });
}

void check_domains_scope(const std::vector<std::string>& domains, bool global) {
  if (global && !domains.empty())
    throw Error(Exit::bad_input, "--domain needs --dedup-scope memcg: in global scope everyone "
                                 "shares, so a domain changes nothing");
}

CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const double v = text.empty() || std::isspace(static_cast<unsigned char>(text[0]))
                             ? 0
                             : std::strtod(text.c_str(), &end);
        if (!end || *end != '\0' || errno == ERANGE || !std::isfinite(v))
          return "expected a finite number, got '" + text + "'";
        return "";
      },
      "NUMBER", "finite_number");
}

void error_line(const std::string& message) { std::fprintf(stderr, "zdedup: %s\n", message.c_str()); }

bool progress_wanted() { return isatty(fileno(stderr)); }

void emit(const std::string& text) {
  // A result that did not reach stdout (disk full, I/O error) must not exit 0:
  // a CI step or a cron job would take the missing output for a success.
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    const int e = errno ? errno : EIO;
    std::clearerr(stdout);
    throw Error(Exit::output_failed, std::string("cannot write to standard output: ") + std::strerror(e));
  }
}

}  // namespace zdedup::cli

int main(int argc, char** argv) {
  using namespace zdedup;
  CLI::App app{
      "zdedup: measure and validate deduplication of zswap pages.\n"
      "Hash 4 KiB pages (XXH64, seed 0), count duplicates, report what dedup saves."};
  app.set_version_flag("--version", "zdedup " ZDEDUP_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 ok/pass, 1 check failed (gate, validate), 2 bad input or usage,\n"
      "3 input damaged (salvaged result printed), 4 not possible on this host (privileges,\n"
      "kernel features), 5 output could not be written (stdout, --prometheus FILE).\n\n"
      "Examples:\n"
      "  zdedup scan --pid 1234            # duplicate pages in a process's anonymous memory\n"
      "  zdedup scan --all --json          # every process, as JSON\n"
      "  zdedup report run.zdt             # summarize a recorded trace\n"
      "  zdedup gate --min-ratio 1.2 r.json  # CI: fail when the dedup ratio drops below 1.2\n"
      "  zdedup live 1 10                  # BPF: ten 1-second reports of zswap dedup\n"
      "  zdedup ghost create /run/ghostswap --size 8G  # swap space only zswap backs (7.2 series)\n"
      "Run 'zdedup COMMAND --help' for each command's options.");
  const std::vector<std::pair<std::string, cli::Action>> actions = {
      {"scan", cli::add_scan(app)},
      {"report", cli::add_report(app)},
      {"gate", cli::add_gate(app)},
      {"live", cli::add_live(app)},
      {"record", cli::add_record(app)},
      {"validate", cli::add_validate(app)},
      {"ghost", cli::add_ghost(app)},
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, as every error is (CLI11's own messages may span several).
    std::string m = e.what();
    for (char& ch : m)
      if (ch == '\n') ch = ' ';
    while (!m.empty() && m.back() == ' ') m.pop_back();
    cli::error_line(m + " (see 'zdedup --help')");
    return static_cast<int>(Exit::bad_input);
  }
  try {
    for (const auto& [name, action] : actions)
      if (app.got_subcommand(name)) return action();
  } catch (const Error& e) {
    cli::error_line(e.what());
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    cli::error_line(std::string("internal error: ") + e.what());
    return static_cast<int>(Exit::bad_input);
  }
  return static_cast<int>(Exit::bad_input);
}
