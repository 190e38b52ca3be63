"""`llmgym label` through the real page in headless Debian Chromium (selenium + chromium-driver):
rank by keyboard and by dragging, skip, undo, watch progress, restart the server and continue.

`make sysdeps` installs chromium and chromium-driver; these tests fail (not skip) without them.
"""

import json
import threading

import pytest

import llmgym
from llmgym.rlhf import rankings as rk
from llmgym.rlhf.label_server import LabelSession, build_queue, make_server, open_session, queue_path
from conftest import chromium

K = 4


@pytest.fixture(scope="module")
def browser():
    with chromium("1000,1200") as driver:
        yield driver


class Served:
    """A label server on a free port in a thread; `stop()` shuts it down like Ctrl+C would."""

    def __init__(self, session: LabelSession):
        self.server = make_server(session, 0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def distinct_sampler(prompts, k, tasks):
    # Distinct, recognisable texts so the test can tell which sample ended up where.
    return [[f"sample {j} for task {t.id[:6]}" for j in range(k)] for t in tasks]


def wait_item(browser, old_item=None):
    """Wait until the page shows an item other than `old_item` (or the finished view)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return document.body.dataset.item !== undefined && "
                                   "document.getElementById('progress').textContent.includes('/')")
        and d.execute_script("return document.body.dataset.item") != old_item)
    return browser.execute_script("return document.body.dataset.item")


def shown_order(browser):
    return [int(x) for x in browser.execute_script(
        "return Array.from(document.querySelectorAll('li.sample')).map(li => li.dataset.index)")]


def press(browser, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(browser)
    for key in keys:
        if isinstance(key, tuple):  # (modifier, key)
            chain.key_down(key[0]).send_keys(key[1]).key_up(key[0])
        else:
            chain.send_keys(key)
    chain.perform()


def test_rank_skip_undo_and_restart_through_the_page(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    out = tmp_path / "rankings.jsonl"
    env = llmgym.make("rlhf")
    items = build_queue(env, distinct_sampler, 4, K, seed=0)
    session = LabelSession(out, items, "human:tester")
    served = Served(session)
    try:
        browser.get(served.url)
        first = wait_item(browser)
        assert first == items[0]["item"]
        assert "0 / 4 done" in browser.find_element(By.ID, "progress").text
        assert browser.find_element(By.ID, "prompt").text.startswith(env.tasks("train", n=1).__next__().text[:20])

        # Item 1 by keyboard: press sample numbers 3, 1 (they go first, in that order), submit.
        press(browser, "3", "1")
        assert shown_order(browser) == [2, 0, 1, 3]
        press(browser, Keys.ENTER)
        second = wait_item(browser, first)
        assert second == items[1]["item"]
        assert "1 / 4 done" in browser.find_element(By.ID, "progress").text

        # Item 2 by dragging: drag the last card onto the first, then move the selection with
        # arrows and Shift+Down; submit with the button.
        # Cards are re-rendered while dragging, so the path is given as offsets measured up front.
        cards = browser.find_elements(By.CSS_SELECTOR, "li.sample")
        tops = [c.rect["y"] + c.rect["height"] / 2 for c in cards]
        chain = ActionChains(browser).move_to_element(cards[3]).click_and_hold()
        for a, b in zip(tops[:0:-1], tops[-2::-1]):  # card 3 -> 2 -> 1 -> 0
            chain.move_by_offset(0, round(b - a))
        chain.release().perform()
        assert shown_order(browser) == [3, 0, 1, 2]
        press(browser, Keys.DOWN, (Keys.SHIFT, Keys.DOWN))  # selection 3 -> 0 (pos 1), moved down to pos 2
        assert shown_order(browser) == [3, 1, 0, 2]
        browser.find_element(By.ID, "submit").click()
        third = wait_item(browser, second)
        assert third == items[2]["item"]

        # Skip item 3, then undo the skip: item 3 comes back.
        press(browser, "s")
        fourth = wait_item(browser, third)
        assert fourth == items[3]["item"]
        assert "(2 ranked, 1 skipped)" in browser.find_element(By.ID, "progress").text
        press(browser, "u")
        assert wait_item(browser, fourth) == items[2]["item"]
        press(browser, "s")
        assert wait_item(browser, items[2]["item"]) == items[3]["item"]
        assert browser.get_log("browser") == []
    finally:
        served.stop()

    records = rk.read(out, strict=True)
    assert [r["item"] for r in records] == [items[0]["item"], items[1]["item"], items[2]["item"]]
    assert records[0]["ranking"] == [2, 0, 1, 3] and records[0]["ranker"] == "human:tester"
    assert records[0]["completions"] == items[0]["completions"]
    assert records[1]["ranking"] == [3, 1, 0, 2]
    assert records[2]["ranking"] is None and records[2]["skipped"] is True
    assert rk.pairs(records[0]["ranking"])[0] == (2, 0)

    # A restarted server over the same file continues with the first item without a record.
    served = Served(LabelSession(out, items, "human:tester"))
    try:
        browser.get(served.url)
        assert wait_item(browser) == items[3]["item"]
        assert "3 / 4 done" in browser.find_element(By.ID, "progress").text
        press(browser, Keys.ENTER)  # the shown order, unchanged
        wait_item(browser, items[3]["item"])
        assert browser.find_element(By.ID, "finished").is_displayed()
        assert "4 / 4 done" in browser.find_element(By.ID, "progress").text
    finally:
        served.stop()
    records = rk.read(out, strict=True)
    assert len(records) == 4 and records[3]["ranking"] == [0, 1, 2, 3]


def test_queue_is_written_once_and_reused_by_a_restart(tmp_path):
    out = tmp_path / "r.jsonl"
    first = open_session(str(out), "rlhf", "simulated", 3, K, say=lambda m: None)
    assert queue_path(out).is_file()
    again = open_session(str(out), "rlhf", "simulated:does-not-matter", 99, K, say=lambda m: None)
    assert [i["completions"] for i in again.items] == [i["completions"] for i in first.items]


def test_api_refuses_a_stale_item_and_a_bad_ranking(tmp_path):
    import urllib.error
    import urllib.request

    out = tmp_path / "r.jsonl"
    items = build_queue(llmgym.make("rlhf"), distinct_sampler, 2, K)
    served = Served(LabelSession(out, items, "human:t"))

    def post(path, body):
        # A script sends the Origin a browser would (the server refuses POSTs without one).
        req = urllib.request.Request(served.url + path.lstrip("/"), json.dumps(body).encode(),
                                     {"Content-Type": "application/json", "Origin": served.url.rstrip("/")})
        try:
            with urllib.request.urlopen(req) as res:
                return res.status, json.loads(res.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    try:
        assert post("/api/rank", {"item": items[1]["item"], "ranking": [0, 1, 2, 3]})[0] == 400
        status, body = post("/api/rank", {"item": items[0]["item"], "ranking": [0, 0, 1, 2]})
        assert status == 400 and "twice" in body["error"]
        status, body = post("/api/rank", {"item": items[0]["item"], "ranking": [1, 0, 3, 2]})
        assert status == 200 and body["done"] == 1 and body["item"]["item"] == items[1]["item"]
    finally:
        served.stop()
    assert out.read_text().count("\n") == 1


def test_label_command_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    from llmgym.cli import main

    assert main(["label", "--out", str(tmp_path / "r.jsonl"), "--prompts", "0"]) == 2
    assert capsys.readouterr().err.strip() == "llmgym: error: --prompts must be positive, got 0"
    assert main(["label", "--out", str(tmp_path / "r.jsonl"), "--policy", "simulated", "--k", "1"]) == 2
    assert "--k must be at least 2" in capsys.readouterr().err
