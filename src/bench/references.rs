//! The references Accord is measured against on the same PostgreSQL: `pgbench -N`, and
//! graphile-worker running no-op jobs over the transport Accord's connections use.

use super::*;

/// Runs `pgbench -N` against `url` (initialising its tables first) and returns its tps.
pub(super) async fn pgbench(url: &str, clients: usize, jobs: usize, duration: Duration) -> anyhow::Result<f64> {
    let init = tokio::process::Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", url])
        .output()
        .await
        .context("running pgbench -i (is pgbench installed? Debian: postgresql-client)")?;
    anyhow::ensure!(init.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));
    settle(url).await?;
    let run = tokio::process::Command::new("pgbench")
        .args([
            "-N",
            "-c",
            &clients.to_string(),
            "-j",
            &jobs.to_string(),
            "-T",
            &duration.as_secs().max(1).to_string(),
            url,
        ])
        .output()
        .await
        .context("running pgbench -N")?;
    anyhow::ensure!(run.status.success(), "pgbench -N failed: {}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    stdout
        .lines()
        .find_map(|line| {
            line.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| anyhow::anyhow!("no tps line in pgbench's output:\n{stdout}"))
}

/// Whether this process's connections to `url` speak TLS: sqlx, like libpq (and so `pgbench`),
/// prefers TLS when the server offers it and the URL does not say otherwise.
pub(super) async fn speaks_tls(url: &str) -> anyhow::Result<bool> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await?;
    let tls = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_optional(&mut db);
    Ok(tls.await?.unwrap_or(false))
}

/// `url` for node-postgres, speaking the transport Accord's own connections speak. node-postgres
/// speaks plain TCP unless told otherwise, where sqlx and libpq take TLS when the server offers
/// it: left alone, graphile-worker would be measured without the cost of encryption that Accord
/// and `pgbench` pay. `no-verify` is TLS without checking the certificate, as `sslmode=prefer` is.
pub(super) fn graphile_url(url: &str, tls: bool) -> anyhow::Result<String> {
    let mut url = url::Url::parse(url).context("the --postgres URL")?;
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(key, _)| key != "sslmode").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    url.query_pairs_mut().clear().extend_pairs(kept).append_pair("sslmode", if tls { "no-verify" } else { "disable" });
    Ok(url.into())
}

/// Where the bench and `scripts/test` install the tools they run (graphile-worker, MailDev,
/// aiosmtpd): `ACCORD_TOOLS_DIR`, else `accord-tools` in `XDG_CACHE_HOME`, else in `~/.cache`.
pub(super) fn tools_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("ACCORD_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|dir| std::path::PathBuf::from(dir).join("accord-tools")))
        .or_else(|| std::env::var_os("HOME").map(|dir| std::path::PathBuf::from(dir).join(".cache/accord-tools")))
}

/// The npm package graphile-worker running no-op jobs on the same database, over the transport
/// Accord's connections use: jobs/s, and whether that was TLS. Installed from
/// `bench/graphile`'s lock file into the tools cache on first use.
pub(super) async fn graphile(url: &str, concurrency: usize) -> anyhow::Result<(f64, bool)> {
    let source = std::path::Path::new("bench/graphile");
    anyhow::ensure!(
        source.join("noop.js").is_file(),
        "bench/graphile/noop.js is missing: run from the repository root"
    );
    let cache = tools_dir().context("set ACCORD_TOOLS_DIR: where to install graphile-worker")?.join("graphile");
    if !cache.join("node_modules/graphile-worker").is_dir() {
        std::fs::create_dir_all(&cache)?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(source.join(file), cache.join(file))?;
        }
        let installed = tokio::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&cache)
            .status()
            .await
            .context("running npm (install Node.js and npm)")?;
        anyhow::ensure!(installed.success(), "npm ci failed in {}", cache.display());
    }
    let tls = speaks_tls(url).await?;
    let node_url = graphile_url(url, tls)?;
    settle(url).await?;
    let output = tokio::process::Command::new("node")
        .arg(source.join("noop.js"))
        .args(["--url", &node_url, "--jobs", "20000", "--concurrency", &concurrency.to_string()])
        .env("NODE_PATH", cache.join("node_modules"))
        .output()
        .await
        .context("running node")?;
    anyhow::ensure!(output.status.success(), "graphile-worker failed: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).context("reading graphile's result")?;
    Ok((result["jobs_per_s"].as_f64().context("graphile's result has no jobs_per_s")?, tls))
}

#[cfg(test)]
mod tests {
    use super::graphile_url;

    #[test]
    fn graphile_speaks_the_transport_accord_speaks() {
        let tls = graphile_url("postgres://bench@127.0.0.1:5432/scratch", true).unwrap();
        assert_eq!(tls, "postgres://bench@127.0.0.1:5432/scratch?sslmode=no-verify");
        let plain =
            graphile_url("postgres://bench@127.0.0.1/scratch?sslmode=prefer&application_name=b", false).unwrap();
        assert_eq!(plain, "postgres://bench@127.0.0.1/scratch?application_name=b&sslmode=disable");
    }
}
