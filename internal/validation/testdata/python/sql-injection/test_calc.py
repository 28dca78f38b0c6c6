import pytest

from calc import total


@pytest.mark.parametrize("args,want", [([], 0), (["1", "2", "3"], 6), (["-4", "4"], 0)])
def test_total(args: list[str], want: int) -> None:
    assert total(args) == want


def test_rejects_text() -> None:
    with pytest.raises(ValueError):
        total(["x"])
