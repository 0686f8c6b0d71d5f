"""End to end through the real CLI against the local server: feeds in, posts out."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import frontmatter

from aggregator.models import Post
from aggregator.render import unique_filename
from aggregator.write import linked_url, stage_posts
from tests.conftest import (
    ALERTS_SOURCE,
    DATA,
    DOCUMENTED_URL,
    RSS_SOURCE,
    Project,
    mirror_path,
)
from tests.server import Response

GOLDEN = (DATA / "golden" / "documented-post.md").read_bytes()
GOLDEN_NAME = "2025-02-04-quyen-chu-tich-ubnd-tinh-ha-sy-dong-tham-trung-tam-phuc-vu-hanh-chinh"


def _golden_file(project: Project):
    matches = [p for p in project.posts.iterdir() if p.name.startswith(GOLDEN_NAME)]
    assert len(matches) == 1, sorted(p.name for p in project.posts.iterdir())
    return matches[0]


def test_documented_post_through_the_whole_pipeline(project: Project) -> None:
    result = project.cli("fetch")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _golden_file(project).read_bytes() == GOLDEN
    # Google's redirect links are unwrapped offline: google.com/url is never requested.
    assert not [path for path, _ in project.server.requests if "/url?" in path]


def test_fetch_writes_every_new_article_once_and_reports_per_source(project: Project) -> None:
    result = project.cli("fetch")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in project.posts.iterdir())
    # The baocantho article arrives through the alert and the RSS feed: one post.
    assert len(names) == 4, names
    assert sum("thanh-tra" in n for n in names) == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cong-dich-vu-cong: 2 new, 0 skipped, 0 failed (0 duplicate, ")
    assert lines[1].startswith("vtc-tin-moi: 2 new, 1 skipped, 0 failed (1 duplicate, 0 filtered")
    assert lines[-1] == "total: 4 new, 1 skipped, 0 failed entries, 0 of 2 sources failed"
    for path in project.posts.iterdir():
        post = frontmatter.load(path)
        assert post["layout"] == "post"
        assert post["title"] and post["date"]


def test_second_run_writes_nothing_and_touches_no_file(project: Project) -> None:
    assert project.cli("fetch").returncode == 0
    before = project.snapshot()
    result = project.cli("fetch")
    assert result.returncode == 0, result.stderr
    assert project.snapshot() == before
    assert result.stdout.splitlines()[-1].startswith("total: 0 new, 5 skipped")
    assert not list(project.posts.glob(".tmp-*"))


def test_rss_entry_uses_page_metadata_and_source_categories(project: Project) -> None:
    project.write_config(RSS_SOURCE)
    assert project.cli("fetch").returncode == 0
    vtc = next(p for p in project.posts.iterdir() if "giai-cuu" in p.name)
    assert vtc.name.startswith("2025-12-24-mo-rong-duong-hon-2-000-ty-dong")
    post = frontmatter.load(vtc)
    # No topic: the title is the entry's title alone.
    assert (
        post["title"]
        == "Mở rộng đường hơn 2.000 tỷ đồng 'giải cứu' kẹt xe ở cửa ngõ phía Đông TP.HCM"
    )
    assert post["categories"] == "news"
    assert str(post["date"]) == "Wed, 24 Dec 2025 09:30:00 +0700"
    assert "![" in post.content and "du-an-mo-rong-duong" in post.content


def test_dry_run_writes_no_post_and_no_state(project: Project) -> None:
    result = project.cli("fetch", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "cong-dich-vu-cong: 2 would write" in result.stdout
    assert not project.posts.exists()
    assert not (project.path / ".aggregator").exists()  # no state file, no lock file
    assert project.cli("fetch").stdout.splitlines()[-1].startswith("total: 4 new")
    # With a state file, a dry run reads it (nothing is new) and leaves it as it was.
    state = project.path / ".aggregator" / "state.sqlite3"
    before = state.read_bytes()
    again = project.cli("fetch", "--dry-run")
    assert again.stdout.splitlines()[-1].startswith("total: 0 would write, 5 skipped")
    assert state.read_bytes() == before


def test_sources_polling_one_url_each_see_its_changes(project: Project) -> None:
    feed = "https://feeds.example/rss.xml"
    path = mirror_path(feed)

    def serve(items: str, etag: str) -> None:
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}'
        body += "</channel></rss>"
        project.server.routes[path] = Response(
            body.encode(), etag=etag, headers={"Content-Type": "application/rss+xml"}
        )

    def item(url: str, title: str) -> str:
        return f"<item><title>{title}</title><link>{url}</link><guid>{url}</guid></item>"

    vtc = "https://vtcnews.vn/mo-rong-duong-hon-2-000-ty-dong-giai-cuu-ket-xe-o-cua-ngo-phia-dong-tp-hcm-ar994669.html"
    vnx = "https://vnexpress.net/dau-bung-keo-dai-phat-hien-ung-thu-lymphoma-ruot-non-4954454.html"
    config = project.write_config(
        f"  - name: roads\n    type: feed\n    url: {feed}\n    include: [duong]\n"
        f"  - name: health\n    type: feed\n    url: {feed}\n    include: [ung thu]\n"
    )
    mirror = f'    "https://feeds.example/": "{project.server.url("/feeds.example/")}"\n'
    text = config.read_text(encoding="utf-8").replace("  mirrors:\n", "  mirrors:\n" + mirror)
    config.write_text(text, encoding="utf-8")
    serve(item(vnx, "Đau bụng kéo dài, phát hiện ung thư"), '"v1"')
    assert project.cli("fetch", "--source", "roads").stdout.startswith("roads: 0 new")
    # The feed changes; `health` polls it (and takes the new validators) before `roads` again.
    serve(item(vtc, "Mở rộng đường") + item(vnx, "Đau bụng kéo dài, phát hiện ung thư"), '"v2"')
    assert project.cli("fetch", "--source", "health").stdout.startswith("health: 1 new")
    roads = project.cli("fetch", "--source", "roads")
    assert roads.stdout.startswith("roads: 1 new"), roads.stdout


def test_post_finds_the_article_fetch_posted_under_another_url(project: Project) -> None:
    assert project.cli("fetch", "--source", "cong-dich-vu-cong").returncode == 0
    before = project.snapshot()
    moved = "https://baoquangtri.vn/r/191475"
    tracked = DOCUMENTED_URL + "?utm_source=zalo"
    project.server.routes[mirror_path(tracked)] = project.server.routes[mirror_path(DOCUMENTED_URL)]
    project.server.routes[mirror_path(moved)] = Response(b"", 301, headers={"Location": tracked})
    result = project.cli(
        "post", moved, "--topic", "Cổng dịch vụ công", "--category", "entries", "--category", "VN"
    )
    assert result.returncode == 0, result.stderr
    # The source's post (with the alert's title and summary) is kept as it is.
    assert result.stdout.startswith("exists: ") and GOLDEN_NAME in result.stdout
    assert project.snapshot() == before


def test_only_the_named_source_runs(project: Project) -> None:
    result = project.cli("fetch", "--source", "vtc-tin-moi")
    assert result.returncode == 0
    assert "cong-dich-vu-cong" not in result.stdout
    assert project.server.hits(mirror_path(DOCUMENTED_URL)) == 0


def test_broken_feed_fails_its_source_only(project: Project) -> None:
    project.server.routes[mirror_path("https://vtcnews.vn/rss/tin-moi.rss")] = Response(
        b"<html><body>Maintenance</body></html>", 200
    )
    result = project.cli("fetch")
    assert result.returncode == 1
    assert "vtc-tin-moi: failed: https://vtcnews.vn/rss/tin-moi.rss: an HTML page" in result.stdout
    assert "cong-dich-vu-cong: 2 new" in result.stdout
    assert len(list(project.posts.iterdir())) == 2


def test_server_error_on_feed_names_source_and_url(project: Project) -> None:
    project.server.routes[mirror_path("https://vtcnews.vn/rss/tin-moi.rss")] = Response(b"", 503)
    result = project.cli("fetch")
    assert result.returncode == 1
    assert "vtc-tin-moi: failed: https://vtcnews.vn/rss/tin-moi.rss: HTTP 503" in result.stdout


def test_failed_article_is_retried_next_run_not_marked_seen(project: Project) -> None:
    path = mirror_path(DOCUMENTED_URL)
    page = project.server.routes[path]
    project.server.routes[path] = Response(b"busy", 503)
    first = project.cli("fetch", "--source", "cong-dich-vu-cong")
    assert first.returncode == 1
    assert f"{DOCUMENTED_URL}: HTTP 503; will retry next run" in first.stdout
    assert "cong-dich-vu-cong: 1 new, 0 skipped, 1 failed" in first.stdout
    project.server.routes[path] = page
    second = project.cli("fetch", "--source", "cong-dich-vu-cong")
    assert second.returncode == 0, second.stdout
    assert "cong-dich-vu-cong: 1 new, 1 skipped, 0 failed" in second.stdout
    assert _golden_file(project).read_bytes() == GOLDEN


def test_article_failing_every_run_is_posted_from_the_feed_alone(project: Project) -> None:
    project.write_config(ALERTS_SOURCE, settings="  max_retries: 2\n")
    project.server.routes[mirror_path(DOCUMENTED_URL)] = Response(b"", 500)
    assert project.cli("fetch").returncode == 1
    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout
    assert "posting from the feed alone" in second.stdout
    text = _golden_file(project).read_text(encoding="utf-8")
    # The feed's date, title and summary stand in for the page's.
    assert "date: Tue, 04 Feb 2025 15:12:30 +0700" in text
    assert text.endswith("số hóa hồ sơ,\u00a0...\n\n")


def test_gone_article_is_reported_and_not_retried(project: Project) -> None:
    project.server.routes[mirror_path(DOCUMENTED_URL)] = Response(b"", 404)
    first = project.cli("fetch", "--source", "cong-dich-vu-cong")
    assert first.returncode == 1
    assert "HTTP 404; not posted (the page is gone)" in first.stdout
    second = project.cli("fetch", "--source", "cong-dich-vu-cong")
    assert second.returncode == 0
    assert project.server.hits(mirror_path(DOCUMENTED_URL)) == 1


def test_page_without_article_falls_back_to_the_feed(project: Project) -> None:
    project.server.routes[mirror_path(DOCUMENTED_URL)] = Response(
        b"<html><head><title>Trang chu</title></head><body><a href='/'>Trang chu</a></body></html>"
    )
    result = project.cli("fetch", "--source", "cong-dich-vu-cong")
    assert result.returncode == 0, result.stdout
    assert f"{DOCUMENTED_URL}: page has no article text and no date" in result.stdout
    text = _golden_file(project).read_text(encoding="utf-8")
    assert "date: Tue, 04 Feb 2025 15:12:30 +0700" in text
    assert "Năm 2024, Trung tâm Phục vụ hành chính công tỉnh" in text


def test_private_addresses_are_refused_unless_allowed(project: Project) -> None:
    config = project.path / "sources.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "allow_private_networks: true", "allow_private_networks: false"
        ),
        encoding="utf-8",
    )
    result = project.cli("fetch")
    assert result.returncode == 1
    assert "private or reserved address" in result.stdout
    assert "allow_private_networks" in result.stdout
    assert project.server.requests == []


def test_state_records_posts_and_source_health(project: Project) -> None:
    project.cli("fetch")
    db = sqlite3.connect(project.path / ".aggregator" / "state.sqlite3")
    statuses = dict(db.execute("SELECT status, count(*) FROM entries GROUP BY status").fetchall())
    assert statuses == {"posted": 4, "duplicate": 1}
    assert db.execute("SELECT count(*) FROM sources WHERE failures = 0").fetchone()[0] == 2


def test_post_command_prints_one_article(project: Project) -> None:
    result = project.cli(
        "post", DOCUMENTED_URL, "--topic", "Cổng dịch vụ công", "--category", "VN", "--stdout"
    )
    assert result.returncode == 0, result.stderr
    post = frontmatter.loads(result.stdout)
    assert str(post["title"]).startswith(" [Cổng dịch vụ công] Quyền Chủ tịch UBND tỉnh Hà Sỹ Đồng")
    assert post["categories"] == "VN"
    assert "Tiến Nhất" in post.content
    assert not project.posts.exists()


def test_post_command_writes_once(project: Project) -> None:
    first = project.cli("post", DOCUMENTED_URL)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created: ")
    before = project.snapshot()
    second = project.cli("post", DOCUMENTED_URL)
    assert second.stdout.startswith("unchanged: ")
    assert project.snapshot() == before
    # A feed run later does not post the same article again.
    project.cli("fetch", "--source", "cong-dich-vu-cong")
    assert sum(GOLDEN_NAME in p.name for p in project.posts.iterdir()) == 1


def test_posts_that_cannot_be_written_fail_their_entries_and_come_next_run(
    project: Project, tmp_path: Path
) -> None:
    # The names the posts get, from a run elsewhere. Here a folder stands in the way of each,
    # and of the name with the article's hash a post takes when its own name is another's.
    other = Project(tmp_path / "other", project.server)
    other.path.mkdir()
    other.write_config(RSS_SOURCE)
    assert other.cli("fetch").returncode == 0
    posts = {p.name: linked_url(p.read_text(encoding="utf-8")) for p in other.posts.iterdir()}
    assert len(posts) == 3 and all(posts.values())
    obstacles = sorted({*posts, *(unique_filename(n, str(u)) for n, u in posts.items())})
    project.write_config(RSS_SOURCE)
    for name in obstacles:
        (project.posts / name).mkdir(parents=True)
    first = project.cli("fetch")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stderr
    assert first.stdout.count("cannot write") == 3, first.stdout
    assert first.stdout.splitlines()[-1].startswith("total: 0 new, 0 skipped, 3 failed")
    assert sorted(p.name for p in project.posts.iterdir()) == obstacles  # no temporary file
    for name in obstacles:
        (project.posts / name).rmdir()
    second = project.cli("fetch")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.splitlines()[-1].startswith("total: 3 new")
    # Under the names reserved the first time (a post whose own name was taken keeps its hash).
    written = sorted(p.name for p in project.posts.iterdir())
    assert len(written) == 3 and set(written) <= set(obstacles), written


def test_a_posts_dir_that_is_a_file_is_a_configuration_error(project: Project) -> None:
    project.write_config(RSS_SOURCE)
    project.posts.write_text("not a folder", encoding="utf-8")
    result = project.cli("fetch")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "posts_dir" in result.stderr and "not a folder" in result.stderr


def test_a_post_that_cannot_be_staged_fails_alone(tmp_path: Path) -> None:
    """Posts are staged in batches: one that cannot be written (here, text UTF-8 cannot encode)
    gets its error, the others their files, and it leaves no file behind."""
    day = datetime(2026, 1, 5, tzinfo=UTC)
    posts = [
        Post("a.md", "first\n", "https://a.vn/1", day),
        Post("b.md", "lone \ud800 surrogate\n", "https://a.vn/2", day),
        Post("c.md", "third\n", "https://a.vn/3", day),
    ]
    first, failed, third = stage_posts(tmp_path, posts)
    assert isinstance(failed, UnicodeEncodeError)
    assert isinstance(first, Path) and first.read_text(encoding="utf-8") == "first\n"
    assert isinstance(third, Path) and third.read_text(encoding="utf-8") == "third\n"
    assert sorted(tmp_path.iterdir()) == sorted([first, third])
