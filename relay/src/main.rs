use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
#[expect(
    clippy::print_stderr,
    reason = "the start-up error is the process's last word, printed as anyhow's own main would"
)]
async fn main() -> ExitCode {
    match start().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // What went wrong and why, without a backtrace: the supervisor shows the last lines
            // of this output to the user, and RUST_BACKTRACE is often set in their shell.
            eprintln!("Error: {error}");
            let mut causes = error.chain().skip(1).peekable();
            if causes.peek().is_some() {
                eprintln!("\nCaused by:");
                for cause in causes {
                    eprintln!("    {cause}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

async fn start() -> anyhow::Result<()> {
    rtc_relay::config::load_dotenv()?;
    let config = rtc_relay::config::Config::parse();
    rtc_relay::telemetry::init(&config.log);
    rtc_relay::run(config).await
}
