import pytest

from llmgym.parsing import MAX_SCAN_CHARS, extract_answer, find_boxed, last_number


@pytest.mark.parametrize("text, answer, source", [
    (r"so the answer is \boxed{42}.", "42", "boxed"),
    (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}", "boxed"),
    (r"\boxed {7}", "7", "boxed"),
    (r"\fbox{x+1}", "x+1", "boxed"),
    (r"\boxed{\boxed{3}}", "3", "boxed"),
    ("<answer> Paris </answer>", "Paris", "answer_tag"),
    ("work\n#### 1,234\n", "1234", "hash"),
    ("I think 3, no wait, 5.", "5", "last_number"),
    ("costs $1,250.50 total", "1250.50", "last_number"),
    ("ratio 3/4", "3/4", "last_number"),
    ("minus -12", "-12", "last_number"),
])
def test_formats(text, answer, source):
    parsed = extract_answer(text)
    assert (parsed.text, parsed.source) == (answer, source)


def test_boxed_wins_over_other_formats_and_every_explicit_answer_is_a_candidate():
    parsed = extract_answer("<answer>1</answer> \\boxed{3} or \\boxed{4}\n#### 9")
    assert parsed.text == "4" and parsed.candidates == ("1", "3", "4", "9")  # in text order, every format
    assert extract_answer("see #### 9, not a hash line: \\boxed{4}").candidates == ("4",)
    assert extract_answer("#### \\boxed{4}").candidates == ("4", "4")  # the box, and the line that holds it


@pytest.mark.parametrize("text", [None, "", 42, b"bytes", "no digits", r"\boxed{unclosed", "}{" * 50])
def test_nothing_found_is_not_an_error(text):
    parsed = extract_answer(text)
    assert parsed.text is None and not parsed.found


def test_unbalanced_box_is_ignored_but_earlier_boxes_kept():
    assert find_boxed(r"\boxed{1} then \boxed{2") == ["1"]


def test_deeply_nested_box_is_returned_whole_not_unwrapped_forever():
    text = "\\boxed{" * 2000 + "1" + "}" * 2000
    parsed = extract_answer(text)
    assert parsed.source == "boxed" and parsed.text.startswith("\\boxed{")


def test_hostile_inputs_only_scan_the_tail():
    huge = "9" * 10_000_000 + r" \boxed{5}"
    assert extract_answer(huge).text == "5"
    head = r"\boxed{5}" + "x" * (MAX_SCAN_CHARS + 10)
    assert extract_answer(head).text is None


def test_nul_bytes_and_mixed_scripts():
    assert extract_answer("réponse\x00: \\boxed{٣}").text == "٣"
    assert last_number("e=1e999999") is None
