use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rtc_relay::config::load_dotenv()?;
    let config = rtc_relay::config::Config::parse();
    rtc_relay::telemetry::init(&config.log);
    rtc_relay::run(config).await
}
