"""Command line: prints the sum of its arguments."""
import sys

from calc import total


def main() -> None:
    print(total(sys.argv[1:]))


if __name__ == "__main__":
    main()
