//! Listing every entry: `SCAN` of one node, or of every master of a cluster.

use redis::Value;
use redis::aio::ConnectionLike;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::layout::parse_value;
use super::{Conn, RedisStore, bounded, redis_error};
use crate::clock::Clock;
use crate::error::Result;
use crate::store::Entry;

/// Keys fetched per `SCAN` step and per `GET`/`PTTL` pipeline while listing.
const SCAN_BATCH: usize = 1000;

/// One key found by a scan: its name, value (`None` if it expired meanwhile) and PTTL.
pub(super) type Scanned = (Vec<u8>, Option<Vec<u8>>, i64);

impl RedisStore {
    /// Every live entry, from the single node or from every master of the cluster.
    pub(super) async fn list_all(&self) -> Result<Vec<Entry>> {
        let now = Clock::System.now();
        let pattern = self.scan_pattern();
        let scanned = self
            .scan_values(&pattern, |k| self.parse_entry_key(k).is_some())
            .await?;
        let mut out = Vec::with_capacity(scanned.len());
        for (name, value, pttl) in scanned {
            let (Some(key), Some(value)) = (self.parse_entry_key(&name), value) else {
                continue;
            };
            let Some((revoked_at, stamp, expires_at)) = parse_value(&value) else {
                continue;
            };
            if pttl == -2 || expires_at <= now {
                continue;
            }
            out.push(Entry {
                key,
                revoked_at,
                stamp,
                expires_at,
            });
        }
        Ok(out)
    }

    /// Every key matching `pattern` that `accept`s, with its value and PTTL, from the single
    /// node or from every master of the cluster.
    pub(super) async fn scan_values(
        &self,
        pattern: &str,
        accept: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<Scanned>> {
        let mut out = Vec::new();
        match &self.inner.conn {
            Conn::Node(_) => self.scan_node(None, pattern, &accept, &mut out).await?,
            Conn::Cluster(c) => {
                let mut conn = c.clone();
                for (host, port) in self.masters(&mut conn).await? {
                    let route = SingleNodeRoutingInfo::ByAddress { host, port };
                    self.scan_node(Some(route), pattern, &accept, &mut out)
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// The masters of the cluster as `(host, port)`, from `CLUSTER NODES`.
    async fn masters(&self, conn: &mut ClusterConnection) -> Result<Vec<(String, u16)>> {
        let url = &self.inner.url;
        let text: String = bounded(
            url,
            self.inner.parsed.timeout,
            conn.route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            ),
        )
        .await
        .and_then(|v| redis::from_redis_value(v).map_err(|e| redis_error(url, e.into())))?;
        Ok(parse_cluster_nodes(&text))
    }

    /// Scans one node (`route`) or the single node (`None`).
    async fn scan_node(
        &self,
        route: Option<SingleNodeRoutingInfo>,
        pattern: &str,
        accept: &impl Fn(&[u8]) -> bool,
        out: &mut Vec<Scanned>,
    ) -> Result<()> {
        let url = &self.inner.url;
        let timeout = self.inner.parsed.timeout;
        let mut conn = self.inner.conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let value = bounded(url, timeout, async {
                match (&mut conn, &route) {
                    (Conn::Node(c), _) => c.req_packed_command(&scan).await,
                    (Conn::Cluster(c), Some(route)) => {
                        c.route_command(scan.clone(), RoutingInfo::SingleNode(route.clone()))
                            .await
                    }
                    (Conn::Cluster(_), None) => unreachable!("a cluster scan names its node"),
                }
            })
            .await?;
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::from_redis_value(value).map_err(|e| self.error(e.into()))?;
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| accept(k)).collect();
            if !keys.is_empty() {
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("GET").arg(key).cmd("PTTL").arg(key);
                }
                let count = keys.len() * 2;
                let values: Vec<Value> = bounded(url, timeout, async {
                    match (&mut conn, &route) {
                        (Conn::Node(c), _) => c.req_packed_commands(&pipe, 0, count).await,
                        (Conn::Cluster(c), Some(route)) => {
                            c.route_pipeline(pipe.clone(), 0, count, route.clone())
                                .await
                        }
                        (Conn::Cluster(_), None) => unreachable!("a cluster scan names its node"),
                    }
                })
                .await?;
                for (key, pair) in keys.into_iter().zip(values.chunks(2)) {
                    let value: Option<Vec<u8>> = redis::from_redis_value(pair[0].clone())
                        .map_err(|e| self.error(e.into()))?;
                    let pttl: i64 = redis::from_redis_value(pair[1].clone())
                        .map_err(|e| self.error(e.into()))?;
                    out.push((key, value, pttl));
                }
            }
            cursor = next;
            if cursor == 0 {
                return Ok(());
            }
        }
    }
}

/// `(host, port)` of every master that is not failed, from `CLUSTER NODES` output.
fn parse_cluster_nodes(text: &str) -> Vec<(String, u16)> {
    let mut masters = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(addr), Some(flags)) = (fields.get(1), fields.get(2)) else {
            continue;
        };
        if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
            continue;
        }
        // ip:port@cport[,hostname]
        let addr = addr.split(['@', ',']).next().unwrap_or("");
        if let Some((host, port)) = addr.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
            && !host.is_empty()
            && port != 0
        {
            masters.push((host.to_owned(), port));
        }
    }
    masters
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes_masters_only() {
        let text = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922
292f 127.0.0.1:30003@40003,host.example master - 0 1426238318243 3 connected 10923-16383
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
aaaa :0@0 master,noaddr - 0 0 0 disconnected
bbbb 127.0.0.1:30009@40009 master,fail - 0 0 0 connected
";
        assert_eq!(
            parse_cluster_nodes(text),
            [
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30003),
                ("127.0.0.1".to_owned(), 30001),
            ]
        );
    }
}
