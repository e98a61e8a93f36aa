//! `host:port` as a URL authority.

/// `host:port`, with an IPv6 address in brackets (once).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_brackets_ipv6_once() {
        assert_eq!(host_port("10.0.0.1", 8082), "10.0.0.1:8082");
        assert_eq!(host_port("fd00::1", 8082), "[fd00::1]:8082");
        assert_eq!(host_port("[fd00::1]", 8082), "[fd00::1]:8082");
        assert_eq!(host_port("api.example", 80), "api.example:80");
    }
}
