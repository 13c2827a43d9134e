//! TCP with `TCP_NODELAY`: MQTT packets are small and latency matters more
//! than coalescing; the driver already batches what it writes.

use std::io;
use tokio::net::TcpStream;

/// Connects to `host:port` and turns Nagle's algorithm off.
pub async fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
