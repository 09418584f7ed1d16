"""Issue 14 D6: the README's CI snippet, run as written.  Its old form scanned
before the workload had allocated (249 pages instead of 65,536) and gated on
those; the test fails whenever the snippet in the README does that again."""
import json
import os
import re
import signal
import subprocess
import textwrap

from conftest import BUILD, REPO


def readme_ci_step():
    text = (REPO / "README.md").read_text()
    block = re.search(r"```yaml\n(- name: dedup ratio gate\n.*?)```", text, re.S).group(1)
    run = block.split("run: |\n", 1)[1]
    return textwrap.dedent(run)


def test_readme_ci_snippet_gates_on_the_whole_workload(tmp_path):
    script = readme_ci_step()
    assert "./my-workload" in script
    # ./my-workload stands for a workload that holds its memory: zdedup-workload
    # with 64 MiB of the realistic mix, holding while its stdin stays open
    # (a background job's stdin is /dev/null, which would end it at once).
    (tmp_path / "my-workload").write_text(
        "#!/bin/bash\nexec %s --mib 64 --mix realistic \"$@\" 2>workload.err < <(sleep 600 2>/dev/null)\n"
        % (BUILD / "zdedup-workload"))
    os.chmod(tmp_path / "my-workload", 0o755)
    # The baseline is the mix's ratio as the workload computed it from its own
    # content ids: the scan must come within 5 % of it.
    want = json.loads(subprocess.run([str(BUILD / "zdedup-workload"), "--mib", "64", "--mix",
                                      "realistic"], capture_output=True, text=True,
                                     check=True).stdout)
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "main.json").write_text(json.dumps({"dedup_ratio": want["dedup_ratio"]}))
    env = dict(os.environ, PATH="%s:%s" % (BUILD, os.environ["PATH"]))
    # GitHub Actions runs `run:` with bash -eo pipefail; a session of its own
    # lets the test clean up the workload's helper processes.
    p = subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=120)
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert p.returncode == 0, (out, err)
    assert out.startswith("PASS: ")
    pr = json.loads((tmp_path / "pr.json").read_text())
    assert pr["pages"] >= want["pages"] == 16384
