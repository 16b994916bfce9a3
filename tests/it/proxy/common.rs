use std::net::SocketAddr;
use std::time::Duration;

use switchyard_proxy::{Config, Proxy, ProxyHandle, Upstream};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// A proxy running in this process.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub handle: ProxyHandle,
    pub task: JoinHandle<()>,
}

impl TestProxy {
    /// A URL for `db` as `user` through the proxy.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@{}/{db}", self.addr)
    }

    pub fn url_as(&self, user: &str, password: &str, db: &str) -> String {
        format!("postgres://{user}:{password}@{}/{db}", self.addr)
    }

    /// Stops accepting, drains and waits for the proxy to finish.
    pub async fn stop(self) {
        self.handle.shutdown();
        tokio::time::timeout(Duration::from_secs(30), self.task).await.expect("proxy stops").expect("proxy task");
    }
}

/// The shared test server's address as an upstream.
pub fn shared_upstream() -> Upstream {
    let server = switchyard_localpg::shared();
    Upstream::parse(server.admin_url()).expect("upstream URL")
}

/// A config for a proxy in front of the shared test server.
pub fn config() -> Config {
    config_for(shared_upstream())
}

pub fn config_for(upstream: Upstream) -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().expect("addr"), upstream);
    c.drain_timeout = Duration::from_secs(2);
    c
}

/// Starts a proxy in front of the shared test server.
pub async fn start() -> TestProxy {
    start_with(config()).await
}

pub async fn start_with(config: Config) -> TestProxy {
    let proxy = Proxy::bind(config).await.expect("proxy binds");
    let addr = proxy.local_addr().expect("local addr");
    let metrics_addr = proxy.metrics_addr();
    let handle = proxy.handle();
    let task = tokio::spawn(proxy.run());
    TestProxy { addr, metrics_addr, handle, task }
}

/// Connects with tokio-postgres (no TLS) and spawns the connection task.
pub async fn connect(url: &str) -> Client {
    try_connect(url).await.unwrap_or_else(|e| panic!("connecting to {url}: {}", describe(&e)))
}

pub async fn try_connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The SQLSTATE of an error, or its text when it has none.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => format!("{e:?}"),
    }
}

pub fn sqlstate(e: &tokio_postgres::Error) -> Option<String> {
    e.code().map(|c| c.code().to_owned())
}

/// Asserts that a client still works.
pub async fn assert_alive(client: &Client) {
    let n: i32 = client.query_one("SELECT 41 + 1", &[]).await.expect("still usable").get(0);
    assert_eq!(n, 42);
}
