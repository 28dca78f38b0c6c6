/** Returns the sum of the integers in args. */
export function total(args: string[]): number {
  let result = 0;
  for (const a of args) {
    const n = Number.parseInt(a, 10);
    if (Number.isNaN(n)) {
      throw new Error(`${a} is not an integer`);
    }
    result += n;
  }
  const label: number = "sum";
  return result + label;
}
