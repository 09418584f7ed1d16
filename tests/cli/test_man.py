"""zdedup(8) against `zdedup [COMMAND] --help` and error.h: every command,
option, argument, default and exit status is in both or the test fails, so the
man page cannot drift from the CLI.  The page is also rendered with every groff
warning on."""
import os
import re
import subprocess

import pytest

from conftest import BUILD, REPO, run

MAN = BUILD / "man" / "zdedup.8"


def plain(roff):
    """Roff text without font escapes and macro names: what a reader sees."""
    text = re.sub(r"\\f[BIRP]", "", roff).replace("\\-", "-").replace("\\&", "")
    text = re.sub(r"^\.[A-Z]{1,2} ?", "", text, flags=re.M)
    return text.replace('"', "")


def help_entries(text):
    """{name: default or None} for every option and positional of a --help."""
    entries, section = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][a-z]+:$", line):
            section = line[:-1]
            continue
        if section not in ("Options", "Positionals") or not re.match(r"^  \S", line):
            if line and not line.startswith(" "):
                section = None
            continue
        # "  --top UINT:UINT=10   ...", "  interval FLOAT:... in [0.01 - 86400]=1";
        # a long type leaves one space before the description.
        names = line.split()[0]
        default = re.match(r"^  \S+ [^=\s]*(?: in \[[^\]]*\])?=(\S+)", line)
        for name in names.split(","):
            entries[name] = default.group(1) if default else None
    return entries


def help_commands(text):
    block = text.split("Subcommands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines()]


def cli_commands(main_help):
    """Every command as the words that run it: 'scan', ..., 'ghost create'."""
    out = []
    for command in help_commands(main_help):
        sub = run("zdedup", command, "--help", check=0).stdout
        out += [f"{command} {s}" for s in help_commands(sub)] if "Subcommands:\n" in sub else [command]
    return out


def man_sections(roff, macro):
    """{title: body} of the .SH or .SS sections of @roff."""
    parts = re.split(rf"^\{macro} (.+)$", roff, flags=re.M)
    return {parts[i].strip('"'): parts[i + 1] for i in range(1, len(parts), 2)}


def man_items(body):
    """{tag: paragraph} of the .TP items in one section."""
    items = {}
    for chunk in re.split(r"^\.TP\n", body, flags=re.M)[1:]:
        tag, _, para = chunk.partition("\n")
        para = re.split(r"^\.(?:SS|SH) ", para, flags=re.M)[0]
        items[plain(tag).strip()] = plain(para)
    return items


def man_entries(body):
    """{name: paragraph} of the options and arguments documented in a section."""
    entries = {}
    for tag, para in man_items(body).items():
        names = re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", tag)
        if not names and re.fullmatch(r"[A-Z]+", tag):
            names = [tag.lower()]
        for name in names:
            entries[name] = para
    return entries


@pytest.fixture(scope="module")
def roff():
    return MAN.read_text()


@pytest.fixture(scope="module")
def main_help():
    return run("zdedup", "--help", check=0).stdout


def test_commands_are_the_clis(roff, main_help):
    commands = list(man_sections(man_sections(roff, ".SH")["COMMANDS"], ".SS"))
    assert commands == cli_commands(main_help)
    synopsis = plain(man_sections(roff, ".SH")["SYNOPSIS"])
    assert re.findall(r"^zdedup\n(\w+(?: [a-z]+)?)$", synopsis, flags=re.M) == commands


def test_top_level_options(roff, main_help):
    assert set(man_entries(man_sections(roff, ".SH")["OPTIONS"])) == set(help_entries(main_help))


def test_every_option_argument_and_default_of_every_command(roff, main_help):
    sections = man_sections(man_sections(roff, ".SH")["COMMANDS"], ".SS")
    defaults = 0
    for command in cli_commands(main_help):
        cli = help_entries(run("zdedup", *command.split(), "--help", check=0).stdout)
        # -h/--help is on every command and documented once, under OPTIONS.
        assert cli.pop("-h", "absent") is None and cli.pop("--help", "absent") is None, command
        man = man_entries(sections[command])
        assert set(man) == set(cli), (command, "man only:", set(man) - set(cli),
                                      "--help only:", set(cli) - set(man))
        for name, default in cli.items():
            if default is not None:
                said = re.search(rf"default {re.escape(default)}(?![\w.])", " ".join(man[name].split()))
                assert said, (command, name, default)
                defaults += 1
    assert defaults >= 10, defaults


def test_options_named_anywhere_exist(roff, main_help):
    """Prose, synopsis and examples name only options the CLI has."""
    known = set(help_entries(main_help))
    by_command = {c: set(help_entries(run("zdedup", *c.split(), "--help", check=0).stdout))
                  for c in cli_commands(main_help)}
    for names in by_command.values():
        known |= names
    text = plain(roff)
    assert set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text)) <= known
    examples = plain(man_sections(roff, ".SH")["EXAMPLES"])
    used = 0
    for first, second, rest in re.findall(r"\bzdedup (\w+)(?: ([a-z]+))?(.*)", examples):
        two = f"{first} {second}"
        command, args = (two, rest) if two in by_command else (first, f" {second}{rest}")
        assert command in by_command, command
        for opt in re.findall(r"(?<![\w-])--?[a-z][a-z-]*", args):
            assert opt in by_command[command], (command, opt)
            used += 1
    assert used >= 10


def test_exit_statuses_are_error_hs(roff, main_help):
    header = (REPO / "analyzer" / "include" / "zdedup" / "error.h").read_text()
    enum = header.split("enum class Exit", 1)[1].split("};", 1)[0]
    codes = sorted(int(v) for v in re.findall(r"=\s*(\d+)\s*,", enum))
    assert codes == list(range(6))
    man = sorted(int(t) for t in man_items(man_sections(roff, ".SH")["EXIT STATUS"]))
    footer = main_help.split("Exit status:", 1)[1].split("\n\n", 1)[0]
    cli = sorted(int(v) for v in re.findall(r"(?:^|,|:)\s+(\d) [a-z]", " " + footer))
    assert man == codes and cli == codes


def test_version_is_cmakes(roff):
    cmake = (REPO / "CMakeLists.txt").read_text()
    version = re.search(r"project\(zdedup VERSION (\S+)", cmake).group(1)
    assert run("zdedup", "--version", check=0).stdout.strip() == f"zdedup {version}"
    assert re.search(r'^\.TH ZDEDUP 8 "[-0-9]+" "zdedup ' + re.escape(version) + '"', roff, re.M)


def render_checks(page):
    """Renders @page (roff or gzipped roff) the way man(1) does; asserts no warnings."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_DISABLE_SECCOMP="1")
    p = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    width = max(len(line) for line in p.stdout.splitlines())
    assert width <= 80, width
    return p.stdout


def test_page_renders_without_warnings():
    g = subprocess.run(["groff", "-ww", "-z", "-man", str(MAN)], capture_output=True, text=True,
                       timeout=60)
    assert g.returncode == 0 and g.stderr == "", g.stderr
    text = render_checks(MAN)
    for heading in ("NAME", "SYNOPSIS", "COMMANDS", "EXIT STATUS", "EXAMPLES"):
        assert re.search(rf"^{heading}$", text, re.M), heading
