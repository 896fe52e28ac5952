fn main() {
    let _cli: twitch_bot::cli::Cli = argh::from_env();
}
