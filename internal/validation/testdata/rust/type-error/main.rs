fn total(args: &[String]) -> i64 {
    args.iter().map(|a| a.parse::<i64>().unwrap_or(0)).sum()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let label: String = total(&args);
    println!("{}", label);
}
