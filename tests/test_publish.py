"""Publishing to the site repository (--commit/--push) and the examples that run it: the crontab
line, the systemd units and the site's CI workflow, each run for real against a local git repo
with a local bare remote."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from pathlib import Path

import pytest
import yaml

from aggregator.publish import commit_message
from aggregator.schedule import cron_trigger
from tests.conftest import ALERTS_SOURCE, ROOT, RSS_SOURCE, Project, wait_until
from tests.test_daemon import FAST, Daemon, ran_twice

EXAMPLES = ROOT / "examples"
SUBJECT = "aggregator: 4 new posts (cong-dich-vu-cong 2, vtc-tin-moi 2)"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass
class Site:
    """A clone of a Jekyll site repository and its bare remote."""

    path: Path
    remote: Path

    @property
    def posts(self) -> Path:
        return self.path / "_posts"

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD").strip()

    def remote_head(self) -> str:
        return git(self.remote, "rev-parse", "main").strip()

    def status(self) -> list[str]:
        return git(self.path, "status", "--porcelain", "--untracked-files=all").splitlines()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test\n\temail = test@example.org\n[init]\n\tdefaultBranch = main\n",
        encoding="utf-8",
    )
    # Every git below, ours and the CLI's, sees this identity and no user or system settings.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    path = tmp_path / "site"
    git(tmp_path, "clone", "--quiet", str(remote), str(path))
    (path / "README.md").write_text("# site\n", encoding="utf-8")
    (path / "_posts").mkdir()
    (path / "_posts" / "2020-01-01-old.md").write_text("---\ntitle: old\n---\n", encoding="utf-8")
    git(path, "add", ".")
    git(path, "commit", "--quiet", "-m", "site")
    git(path, "push", "--quiet", "-u", "origin", "main")
    return Site(path, remote)


def _dirty(site: Site) -> list[str]:
    """Unrelated changes an operator may have in the repository: edited, staged, untracked."""
    (site.path / "README.md").write_text("# site, edited\n", encoding="utf-8")
    (site.path / "notes.txt").write_text("staged\n", encoding="utf-8")
    git(site.path, "add", "notes.txt")
    (site.posts / "2020-02-02-draft.md").write_text("draft\n", encoding="utf-8")
    return site.status()


def _committed(site: Site, rev: str = "HEAD") -> list[str]:
    return git(site.path, "show", "--name-only", "--format=", rev).split()


def test_commit_and_push_exactly_the_posts_this_run_wrote(project: Project, site: Site) -> None:
    before = _dirty(site)
    assert before == [" M README.md", "A  notes.txt", "?? _posts/2020-02-02-draft.md"]
    result = project.cli("fetch", "--posts-dir", str(site.posts), "--push")
    assert result.returncode == 0, result.stdout + result.stderr
    written = sorted(
        f"_posts/{p.name}" for p in site.posts.iterdir() if not p.name.startswith("2020-")
    )
    assert len(written) == 4
    assert sorted(_committed(site)) == written
    subject, _, body = git(site.path, "log", "-1", "--format=%s%n%b").partition("\n")
    assert subject == SUBJECT
    assert sorted(body.split()) == written
    assert f"committed {site.head()[:12]} in {site.path}: {SUBJECT}" in result.stdout
    assert f"pushed {site.path}" in result.stdout
    assert site.remote_head() == site.head()
    # Nothing else was touched: the edit, the staged file and the draft are as they were.
    assert site.status() == before
    assert (site.path / "README.md").read_text(encoding="utf-8") == "# site, edited\n"
    # A run with nothing new makes no commit.
    head = site.head()
    again = project.cli("fetch", "--posts-dir", str(site.posts), "--push")
    assert again.returncode == 0, again.stderr
    assert f"nothing new to commit in {site.path}" in again.stdout
    assert "pushed" not in again.stdout
    assert site.head() == head == site.remote_head()
    assert site.status() == before


def test_push_sends_the_commits_an_earlier_run_could_not(project: Project, site: Site) -> None:
    first = project.cli("fetch", "--posts-dir", str(site.posts), "--commit")
    assert first.returncode == 0, first.stderr
    assert "pushed" not in first.stdout
    assert site.remote_head() != site.head()
    second = project.cli("fetch", "--posts-dir", str(site.posts), "--push")
    assert second.returncode == 0, second.stderr
    assert "nothing new to commit" in second.stdout and f"pushed {site.path}" in second.stdout
    assert site.remote_head() == site.head()
    assert git(site.path, "log", "-1", "--format=%s").strip() == SUBJECT


def test_rejected_push_fails_the_run_and_keeps_the_commit(
    project: Project, site: Site, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "--quiet", str(site.remote), str(other))
    (other / "about.md").write_text("about\n", encoding="utf-8")
    git(other, "add", "about.md")
    git(other, "commit", "--quiet", "-m", "someone else")
    git(other, "push", "--quiet")
    result = project.cli("fetch", "--posts-dir", str(site.posts), "--push")
    assert result.returncode == 1
    assert "cannot publish" in result.stderr and "git push failed" in result.stderr
    assert str(site.path) in result.stderr
    assert len(_committed(site)) == 4
    assert git(site.path, "log", "-1", "--format=%s").strip() == SUBJECT


def test_commit_outside_a_work_tree_fails_but_keeps_the_posts(project: Project) -> None:
    result = project.cli("fetch", "--commit")
    assert result.returncode == 1
    assert "not inside a git work tree" in result.stderr
    assert str(project.posts) in result.stderr
    assert len(list(project.posts.iterdir())) == 4


def test_commit_message_counts_per_source() -> None:
    assert commit_message({"a": 1}) == "aggregator: 1 new post (a 1)"
    assert commit_message({"b": 1, "a": 1, "c": 3}) == "aggregator: 5 new posts (c 3, a 1, b 1)"
    assert commit_message({"a": 2}, 1) == "aggregator: 2 new posts (a 2), 1 updated"
    assert commit_message({}, 3) == "aggregator: 3 updated"


def _placed(text: str, project: Project, site: Site) -> str:
    """An example with its placeholder paths pointing at the test's project and site."""
    # The project gets the real virtualenv, as an installed checkout has its own.
    venv = project.path / ".venv"
    if not venv.exists():
        venv.symlink_to(ROOT / ".venv")
    return text.replace("/srv/aggregator", str(project.path)).replace("/srv/site", str(site.path))


def _crontab_jobs(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(environment lines, [(schedule, command)]) of a crontab."""
    env: dict[str, str] = {}
    jobs: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(None, 5)
        if "=" in fields[0] and len(fields) == 1:
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
        else:
            jobs.append((" ".join(fields[:5]), fields[5]))
    return env, jobs


def test_crontab_line_fetches_commits_and_pushes(project: Project, site: Site) -> None:
    env, jobs = _crontab_jobs(_placed((EXAMPLES / "crontab").read_text(), project, site))
    assert len(jobs) == 1
    schedule, command = jobs[0]
    cron_trigger(schedule, UTC)
    # cron treats an unescaped % as a newline.
    assert "%" not in command
    # As cron runs it: /bin/sh, a minimal environment, the crontab's variables.
    cron_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/"),
        "SHELL": "/bin/sh",
        "GIT_CONFIG_GLOBAL": os.environ["GIT_CONFIG_GLOBAL"],
        "GIT_CONFIG_NOSYSTEM": "1",
        **env,
    }
    run = subprocess.run(
        ["/bin/sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # -q: silent when all is well, so cron mails nothing.
    assert run.stdout == "" and run.stderr == ""
    assert len(_committed(site)) == 4
    assert site.remote_head() == site.head()


def _unit(name: str, project: Project, site: Site) -> tuple[list[str], Path]:
    """The ExecStart argv and WorkingDirectory of a systemd unit, verified by systemd-analyze."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed (.ci/run installs the systemd package)")
    text = _placed((EXAMPLES / name).read_text(), project, site)
    unit = project.path / name
    unit.write_text(text, encoding="utf-8")
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0].isalpha()
    )
    return shlex.split(values["ExecStart"]), Path(values["WorkingDirectory"])


def test_systemd_timer_and_its_fetch_service(project: Project, site: Site) -> None:
    timer = (EXAMPLES / "aggregator-fetch.timer").read_text()
    calendar = next(line.split("=", 1)[1] for line in timer.splitlines() if "OnCalendar" in line)
    check = subprocess.run(
        ["systemd-analyze", "calendar", calendar], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0 and "Next elapse" in check.stdout, check.stderr
    argv, cwd = _unit("aggregator-fetch.service", project, site)
    run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert git(site.path, "log", "-1", "--format=%s").strip() == SUBJECT
    assert site.remote_head() == site.head()


def test_systemd_daemon_service_commits_each_run_and_stops_on_sigterm(
    project: Project, site: Site
) -> None:
    project.write_config(ALERTS_SOURCE + RSS_SOURCE, settings=FAST)
    argv, cwd = _unit("aggregator.service", project, site)
    assert argv[1:3] == ["run", "--config"]
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    daemon = Daemon(project, process=process)
    try:
        for name in ("cong-dich-vu-cong", "vtc-tin-moi"):
            wait_until(partial(ran_twice, daemon, name), f"two runs of {name}")
    finally:
        code = daemon.stop(signal.SIGTERM)
    assert code == 0, daemon.log()
    # One commit per run that wrote posts, each naming its one source; all of them pushed.
    subjects = git(site.path, "log", "--format=%s", "HEAD~2..HEAD").splitlines()
    assert len(subjects) == 2
    assert all(s.startswith("aggregator: ") for s in subjects)
    assert sum(int(s.split()[1]) for s in subjects) == 4
    assert len([line for line in daemon.lines if "; committed " in line]) == 2
    assert site.remote_head() == site.head()
    assert git(site.path, "log", "-1", "--format=%s", "HEAD~2").strip() == "site"


def test_site_workflow_runs_the_fetch_step(project: Project, site: Site) -> None:
    workflow = yaml.safe_load((EXAMPLES / "site-workflow.yml").read_text())
    # PyYAML reads the key `on` as True.
    schedule = workflow[True]["schedule"][0]["cron"]
    cron_trigger(schedule, UTC)
    assert workflow["permissions"] == {"contents": "write"}
    steps = workflow["jobs"]["fetch"]["steps"]
    step = next(s for s in steps if "aggregator fetch" in s.get("run", ""))
    # The site repository holds the configuration as aggregator.yaml, as the workflow expects.
    shutil.copy(project.path / "sources.yaml", site.path / "aggregator.yaml")
    (site.path / ".gitignore").write_text(".aggregator/\n", encoding="utf-8")
    git(site.path, "add", "aggregator.yaml", ".gitignore")
    git(site.path, "commit", "--quiet", "-m", "aggregator config")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    run = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=site.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert git(site.path, "log", "-1", "--format=%s").strip() == SUBJECT
    assert site.remote_head() == site.head()
    assert site.status() == []


def test_commit_includes_posts_a_later_source_tagged(project: Project, site: Site) -> None:
    tagged_rss = RSS_SOURCE.replace("    categories: [news]\n", "    topic: Tin mới\n")
    project.write_config(ALERTS_SOURCE + tagged_rss)
    first = project.cli(
        "fetch", "--source", "cong-dich-vu-cong", "--posts-dir", str(site.posts), "--commit"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    head = site.head()
    # The RSS feed also announces the baocantho article: its topic goes into that post's tags.
    second = project.cli(
        "fetch", "--source", "vtc-tin-moi", "--posts-dir", str(site.posts), "--commit"
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert site.head() != head
    subject = git(site.path, "log", "-1", "--format=%s").strip()
    assert subject == "aggregator: 2 new posts (vtc-tin-moi 2), 1 updated"
    (retagged,) = [name for name in _committed(site) if "thanh-tra" in name]
    assert 'tags: ["Tin mới"]' in (site.path / retagged).read_text(encoding="utf-8")
    assert site.status() == []
