package loopbench_test

import (
	"fmt"
	"strings"
	"testing"
)

// task is one scripted task: a small Python module with its pytest tests,
// and two wrong versions of the module, each made from the correct one by
// one edit. The first wrong version fails test A, the second test B (so
// that a fixer's wrong answer fails differently from the coder's and the
// workflow does not take it for a stuck task).
type task struct {
	module string // the module's name: module.py and test_module.py
	desc   string
	code   string
	tests  string
	bugs   [2][2]string // {old, new} edits of code
}

// buggy returns the module with its n-th wrong edit (0 or 1).
func (t task) buggy(n int) string {
	return strings.Replace(t.code, t.bugs[n][0], t.bugs[n][1], 1)
}

// tasks are 20 independent utility functions of one Python library.
var tasks = []task{
	{module: "slugify", desc: "slugify(text): lower-case text with every run of characters other than a-z and 0-9 turned into one dash, no dash at either end.",
		code: `"""URL slugs."""

import re


def slugify(text: str) -> str:
    """Lower-case text with every run of non-alphanumerics turned into one dash."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower())
    return slug.strip("-")
`,
		tests: `from slugify import slugify


def test_words_are_joined_by_one_dash():
    assert slugify("Hello, World") == "hello-world"


def test_edges_are_trimmed():
    assert slugify("  --Go 1.22--  ") == "go-1-22"
`,
		bugs: [2][2]string{{`[^a-z0-9]+`, `[^a-z0-9]`}, {`slug.strip("-")`, `slug.lstrip("-")`}}},

	{module: "palindrome", desc: "is_palindrome(text): whether text reads the same both ways, ignoring case and every character that is not a letter or digit; the empty string is one.",
		code: `"""Palindromes."""


def is_palindrome(text: str) -> bool:
    """Whether text reads the same both ways, ignoring case and non-alphanumerics."""
    kept = [c.lower() for c in text if c.isalnum()]
    return kept == kept[::-1]
`,
		tests: `from palindrome import is_palindrome


def test_case_and_punctuation_are_ignored():
    assert is_palindrome("A man, a plan, a canal: Panama")
    assert not is_palindrome("palindrome")


def test_empty_and_punctuation_only_are_palindromes():
    assert is_palindrome("")
    assert is_palindrome("?!")
`,
		bugs: [2][2]string{{`c.lower() for c`, `c for c`}, {`return kept == kept[::-1]`, `return bool(kept) and kept == kept[::-1]`}}},

	{module: "fizzbuzz", desc: "fizzbuzz(n): the FizzBuzz sequence from 1 to n as strings.",
		code: `"""FizzBuzz."""


def fizzbuzz(n: int) -> list[str]:
    """The FizzBuzz sequence from 1 to n."""
    out: list[str] = []
    for i in range(1, n + 1):
        if i % 15 == 0:
            out.append("FizzBuzz")
        elif i % 3 == 0:
            out.append("Fizz")
        elif i % 5 == 0:
            out.append("Buzz")
        else:
            out.append(str(i))
    return out
`,
		tests: `from fizzbuzz import fizzbuzz


def test_first_five():
    assert fizzbuzz(5) == ["1", "2", "Fizz", "4", "Buzz"]


def test_fifteen_is_fizzbuzz():
    assert fizzbuzz(30)[14] == "FizzBuzz"
`,
		bugs: [2][2]string{{`range(1, n + 1)`, `range(1, n)`}, {`        if i % 15 == 0:
            out.append("FizzBuzz")
        elif i % 3 == 0:
            out.append("Fizz")`, `        if i % 3 == 0:
            out.append("Fizz")
        elif i % 15 == 0:
            out.append("FizzBuzz")`}}},

	{module: "roman", desc: "to_roman(n): n from 1 to 3999 in Roman numerals, ValueError outside that range.",
		code: `"""Roman numerals."""

_NUMERALS = [
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
]


def to_roman(n: int) -> str:
    """n (1 to 3999) in Roman numerals."""
    if not 1 <= n <= 3999:
        raise ValueError(f"{n} is out of range 1..3999")
    out = []
    for value, numeral in _NUMERALS:
        count, n = divmod(n, value)
        out.append(numeral * count)
    return "".join(out)
`,
		tests: `import pytest

from roman import to_roman


def test_subtractive_forms():
    assert to_roman(1994) == "MCMXCIV"


def test_zero_is_out_of_range():
    with pytest.raises(ValueError):
        to_roman(0)
`,
		bugs: [2][2]string{{"    (900, \"CM\"),\n", ""}, {`if not 1 <= n <= 3999:`, `if n > 3999:`}}},

	{module: "wordcount", desc: "word_count(text): how often each word occurs, case-insensitively; words are runs of letters and apostrophes.",
		code: `"""Word counts."""

import re
from collections import Counter


def word_count(text: str) -> dict[str, int]:
    """How often each word (letters and apostrophes) occurs in text, ignoring case."""
    return dict(Counter(re.findall(r"[a-z']+", text.lower())))
`,
		tests: `from wordcount import word_count


def test_case_is_ignored():
    assert word_count("The cat and the hat") == {"the": 2, "cat": 1, "and": 1, "hat": 1}


def test_punctuation_is_not_part_of_words():
    assert word_count("don't stop, don't") == {"don't": 2, "stop": 1}
`,
		bugs: [2][2]string{{`re.findall(r"[a-z']+", text.lower())`, `re.findall(r"[A-Za-z']+", text)`}, {`re.findall(r"[a-z']+", text.lower())`, `text.lower().split()`}}},

	{module: "chunking", desc: "chunk(items, size): items in consecutive lists of size items, the last possibly shorter; ValueError when size is below 1.",
		code: `"""Splitting a list into chunks."""

from typing import TypeVar

T = TypeVar("T")


def chunk(items: list[T], size: int) -> list[list[T]]:
    """items in consecutive lists of size items (the last may be shorter)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [items[i : i + size] for i in range(0, len(items), size)]
`,
		tests: `import pytest

from chunking import chunk


def test_last_chunk_is_shorter():
    assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_negative_size_is_refused():
    with pytest.raises(ValueError):
        chunk([1], -1)
`,
		bugs: [2][2]string{{`range(0, len(items), size)`, `range(0, len(items) - 1, size)`}, {`if size < 1:`, `if size == 0:`}}},

	{module: "flatten", desc: "flatten(nested): the items of nested lists at any depth, in order; only lists are flattened.",
		code: `"""Flattening nested lists."""

from typing import Any


def flatten(nested: list[Any]) -> list[Any]:
    """The non-list items of nested, at any depth, in order."""
    out: list[Any] = []
    for item in nested:
        if isinstance(item, list):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
`,
		tests: `from flatten import flatten


def test_any_depth():
    assert flatten([1, [2, [3, [4]]], 5]) == [1, 2, 3, 4, 5]


def test_only_lists_are_flattened():
    assert flatten([[], "ab", [("x",)]]) == ["ab", ("x",)]
`,
		bugs: [2][2]string{{`out.extend(flatten(item))`, `out.extend(item)`}, {`isinstance(item, list)`, `isinstance(item, (list, tuple))`}}},

	{module: "median", desc: "median(values): the median of a list of numbers, the mean of the middle two for an even count; ValueError for an empty list.",
		code: `"""Median."""


def median(values: list[float]) -> float:
    """The median of values; ValueError when there are none."""
    if not values:
        raise ValueError("median of no values")
    s = sorted(values)
    mid = len(s) // 2
    if len(s) % 2:
        return s[mid]
    return (s[mid - 1] + s[mid]) / 2
`,
		tests: `import pytest

from median import median


def test_odd_and_even_counts():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_empty_is_an_error():
    with pytest.raises(ValueError):
        median([])
`,
		bugs: [2][2]string{{`s = sorted(values)`, `s = values`}, {"    if not values:\n        raise ValueError(\"median of no values\")\n", ""}}},

	{module: "caesar", desc: "caesar(text, shift): text with each ASCII letter moved shift places along the alphabet, wrapping around and keeping its case; other characters unchanged.",
		code: `"""Caesar cipher."""


def caesar(text: str, shift: int) -> str:
    """text with each ASCII letter moved shift places along the alphabet, keeping its case."""
    out: list[str] = []
    for c in text:
        if "a" <= c <= "z":
            out.append(chr((ord(c) - ord("a") + shift) % 26 + ord("a")))
        elif "A" <= c <= "Z":
            out.append(chr((ord(c) - ord("A") + shift) % 26 + ord("A")))
        else:
            out.append(c)
    return "".join(out)
`,
		tests: `from caesar import caesar


def test_lower_case_wraps_around():
    assert caesar("xyz", 3) == "abc"


def test_upper_case_and_other_characters():
    assert caesar("HAL, 9000", 1) == "IBM, 9000"
`,
		bugs: [2][2]string{{`chr((ord(c) - ord("a") + shift) % 26 + ord("a"))`, `chr(ord(c) + shift)`},
			{"        elif \"A\" <= c <= \"Z\":\n            out.append(chr((ord(c) - ord(\"A\") + shift) % 26 + ord(\"A\")))\n", ""}}},

	{module: "rle", desc: "rle(text): run-length encoding, each run of one character as the character and the run's length (\"aab\" is \"a2b1\"); case-sensitive.",
		code: `"""Run-length encoding."""

from itertools import groupby


def rle(text: str) -> str:
    """Each run of one character as the character and the run's length: "aab" is "a2b1"."""
    return "".join(f"{c}{len(list(g))}" for c, g in groupby(text))
`,
		tests: `from rle import rle


def test_runs_in_order():
    assert rle("aabaa") == "a2b1a2"


def test_case_sensitive():
    assert rle("Aa") == "A1a1"
`,
		bugs: [2][2]string{{`groupby(text)`, `groupby(sorted(text))`}, {`groupby(text)`, `groupby(text.lower())`}}},

	{module: "intervals", desc: "merge_intervals(intervals): the union of closed integer intervals (start, end) as disjoint intervals sorted by start.",
		code: `"""Merging intervals."""


def merge_intervals(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of closed intervals as disjoint intervals, sorted by start."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
`,
		tests: `from intervals import merge_intervals


def test_unsorted_overlaps():
    assert merge_intervals([(5, 7), (1, 3), (2, 4)]) == [(1, 4), (5, 7)]


def test_contained_intervals():
    assert merge_intervals([(1, 10), (2, 3), (4, 4)]) == [(1, 10)]
`,
		bugs: [2][2]string{{`in sorted(intervals):`, `in intervals:`}, {`max(merged[-1][1], end)`, `end`}}},

	{module: "durations", desc: "parse_duration(text): the seconds in a duration such as \"1h30m\" or \"45s\" (hours, minutes, seconds); ValueError for anything else.",
		code: `"""Parsing durations."""

import re

_UNITS = {"h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([hms])")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as "1h30m" or "45s"; ValueError if it is not one."""
    if not text or _PART.sub("", text):
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
`,
		tests: `import pytest

from durations import parse_duration


def test_units_add_up():
    assert parse_duration("1h30m") == 5400
    assert parse_duration("45s") == 45


def test_malformed_is_an_error():
    for bad in ["", "10", "1x", "h"]:
        with pytest.raises(ValueError):
            parse_duration(bad)
`,
		bugs: [2][2]string{{`"h": 3600`, `"h": 360`}, {`if not text or _PART.sub("", text):`, `if not text:`}}},

	{module: "bsearch", desc: "binary_search(items, target): the index of target in a sorted list of integers, or -1 when it is absent.",
		code: `"""Binary search."""


def binary_search(items: list[int], target: int) -> int:
    """The index of target in the sorted list items, or -1."""
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
`,
		tests: `from bsearch import binary_search


def test_every_item_is_found():
    items = [1, 3, 5, 7, 9, 11]
    for i, v in enumerate(items):
        assert binary_search(items, v) == i


def test_absent_is_minus_one():
    assert binary_search([1, 3, 5], 4) == -1
    assert binary_search([], 1) == -1
`,
		bugs: [2][2]string{{`while lo <= hi:`, `while lo < hi:`}, {`    return -1
`, `    return lo
`}}},

	{module: "ipv4", desc: "is_ipv4(text): whether text is a dotted-quad IPv4 address, four decimal numbers 0 to 255 without leading zeros.",
		code: `"""IPv4 addresses."""


def is_ipv4(text: str) -> bool:
    """Whether text is four dot-separated decimal numbers 0-255 without leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not (p.isascii() and p.isdigit()) or int(p) > 255:
            return False
        if len(p) > 1 and p[0] == "0":
            return False
    return True
`,
		tests: `from ipv4 import is_ipv4


def test_valid_addresses():
    for ok in ["192.168.0.1", "0.0.0.0", "255.255.255.255"]:
        assert is_ipv4(ok), ok


def test_invalid_addresses():
    for bad in ["256.1.1.1", "1.2.3", "01.2.3.4", "a.b.c.d", "1..2.3"]:
        assert not is_ipv4(bad), bad
`,
		bugs: [2][2]string{{`int(p) > 255`, `int(p) >= 255`}, {"        if len(p) > 1 and p[0] == \"0\":\n            return False\n", ""}}},

	{module: "transpose", desc: "transpose(matrix): the transpose of a rectangular list of rows; [] for [].",
		code: `"""Transposing matrices."""


def transpose(matrix: list[list[int]]) -> list[list[int]]:
    """The transpose of a rectangular matrix (rows become columns)."""
    if not matrix:
        return []
    return [[row[c] for row in matrix] for c in range(len(matrix[0]))]
`,
		tests: `from transpose import transpose


def test_rows_become_columns():
    assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]


def test_empty():
    assert transpose([]) == []
`,
		bugs: [2][2]string{{`range(len(matrix[0]))`, `range(len(matrix))`}, {"    if not matrix:\n        return []\n", ""}}},

	{module: "casing", desc: "camel_to_snake(name): camelCase or PascalCase as snake_case, a run of capitals kept as one word (\"parseHTTPResponse\" is \"parse_http_response\").",
		code: `"""Identifier casing."""

import re


def camel_to_snake(name: str) -> str:
    """camelCase or PascalCase as snake_case, keeping runs of capitals together."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()
`,
		tests: `from casing import camel_to_snake


def test_camel_and_pascal_case():
    assert camel_to_snake("userId") == "user_id"
    assert camel_to_snake("PascalCase") == "pascal_case"
    assert camel_to_snake("sha256Sum") == "sha256_sum"


def test_runs_of_capitals():
    assert camel_to_snake("parseHTTPResponse") == "parse_http_response"
`,
		bugs: [2][2]string{{`([a-z0-9])([A-Z])`, `([a-z])([A-Z])`},
			{"    s = re.sub(r\"([A-Z]+)([A-Z][a-z])\", r\"\\1_\\2\", name)\n    s = re.sub(r\"([a-z0-9])([A-Z])\", r\"\\1_\\2\", s)\n",
				"    s = re.sub(r\"([a-z0-9])([A-Z])\", r\"\\1_\\2\", name)\n"}}},

	{module: "dedupe", desc: "dedupe(items): the items of any iterable without repeats, keeping the first occurrence of each, in order.",
		code: `"""Removing duplicates."""

from collections.abc import Hashable, Iterable
from typing import TypeVar

H = TypeVar("H", bound=Hashable)


def dedupe(items: Iterable[H]) -> list[H]:
    """items without repeats, keeping the first occurrence of each, in order."""
    seen: set[H] = set()
    out: list[H] = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
`,
		tests: `from dedupe import dedupe


def test_first_occurrence_kept():
    assert dedupe([3, 1, 3, 2, 1]) == [3, 1, 2]


def test_any_iterable():
    assert dedupe(iter("aabbc")) == ["a", "b", "c"]
`,
		bugs: [2][2]string{{`if item not in seen:`, `if item not in out[-1:]:`}, {`    seen: set[H] = set()
`, `    if not list(items):
        return []
    seen: set[H] = set()
`}}},

	{module: "luhn", desc: "luhn_valid(number): whether a card number of at least two digits (spaces allowed) passes the Luhn check.",
		code: `"""Luhn checksums."""


def luhn_valid(number: str) -> bool:
    """Whether a card number (digits, spaces allowed) passes the Luhn check."""
    digits = number.replace(" ", "")
    if len(digits) < 2 or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0
`,
		tests: `from luhn import luhn_valid


def test_checksum():
    assert luhn_valid("4539 3195 0343 6467")
    assert not luhn_valid("8273 1232 7352 0569")


def test_too_short_or_not_digits():
    assert not luhn_valid("0")
    assert not luhn_valid("12a4")
`,
		bugs: [2][2]string{{`if i % 2 == 1:`, `if i % 2 == 0:`}, {`if len(digits) < 2 or not`, `if not`}}},

	{module: "moving", desc: "moving_average(values, window): the mean of each run of window consecutive values; ValueError unless 1 <= window <= len(values).",
		code: `"""Moving averages."""


def moving_average(values: list[float], window: int) -> list[float]:
    """The mean of each run of window consecutive values."""
    if not 1 <= window <= len(values):
        raise ValueError(f"window {window} does not fit {len(values)} values")
    total = sum(values[:window])
    out = [total / window]
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        out.append(total / window)
    return out
`,
		tests: `import pytest

from moving import moving_average


def test_window_of_two():
    assert moving_average([1, 2, 3, 4, 5], 2) == [1.5, 2.5, 3.5, 4.5]


def test_window_larger_than_values():
    with pytest.raises(ValueError):
        moving_average([1, 2], 3)
`,
		bugs: [2][2]string{{`values[i - window]`, `values[i - window + 1]`}, {`if not 1 <= window <= len(values):`, `if window < 1:`}}},

	{module: "radix", desc: "to_base(n, base): the integer n written in base 2 to 36 with digits 0-9a-z and a minus sign when negative; ValueError for another base.",
		code: `"""Numbers in other bases."""

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def to_base(n: int, base: int) -> str:
    """n written in base 2 to 36, with a minus sign when negative."""
    if not 2 <= base <= 36:
        raise ValueError(f"base {base} is not 2..36")
    if n == 0:
        return "0"
    sign, n = ("-", -n) if n < 0 else ("", n)
    out: list[str] = []
    while n:
        n, r = divmod(n, base)
        out.append(_DIGITS[r])
    return sign + "".join(reversed(out))
`,
		tests: `from radix import to_base


def test_digits_in_order():
    assert to_base(255, 16) == "ff"
    assert to_base(71, 36) == "1z"
    assert to_base(0, 7) == "0"


def test_negative():
    assert to_base(-7, 10) == "-7"
`,
		bugs: [2][2]string{{`"".join(reversed(out))`, `"".join(out)`}, {`("-", -n) if n < 0`, `("", -n) if n < 0`}}},
}

// TestTasksAreWellFormed checks, without running Python, that there are
// 20 tasks with distinct modules and that every wrong edit applies.
func TestTasksAreWellFormed(t *testing.T) {
	if len(tasks) != 20 {
		t.Fatalf("%d tasks, want 20", len(tasks))
	}
	seen := map[string]bool{}
	for i, tk := range tasks {
		if seen[tk.module] {
			t.Errorf("task %d: module %s is used twice", i, tk.module)
		}
		seen[tk.module] = true
		if !strings.Contains(tk.tests, "from "+tk.module+" import") {
			t.Errorf("%s: the tests do not import the module", tk.module)
		}
		for n := range 2 {
			if strings.Count(tk.code, tk.bugs[n][0]) != 1 {
				t.Errorf("%s: wrong edit %d: %q occurs %d times, want once", tk.module, n, tk.bugs[n][0], strings.Count(tk.code, tk.bugs[n][0]))
			}
		}
		if tk.buggy(0) == tk.buggy(1) {
			t.Errorf("%s: both wrong versions are the same", tk.module)
		}
	}
}

func taskID(i int) string { return fmt.Sprintf("t%02d", i+1) }
