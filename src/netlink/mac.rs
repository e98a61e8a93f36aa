//! MAC address text form: parsing user input and printing the canonical form.

use anyhow::{Result, bail};

/// Parses `02:aa:BB:03:04:05` (also `-` separated); every octet is two hex digits.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        format!(
            "invalid MAC address {s:?}: expected six two-digit hex octets separated by ':' (e.g. 02:42:ac:11:00:02)"
        )
    };
    let sep = if s.contains('-') && !s.contains(':') {
        '-'
    } else {
        ':'
    };
    let mut mac = [0u8; 6];
    let mut parts = s.split(sep);
    for octet in mac.iter_mut() {
        match parts.next() {
            Some(part) if part.len() == 2 && part.bytes().all(|b| b.is_ascii_hexdigit()) => {
                match u8::from_str_radix(part, 16) {
                    Ok(value) => *octet = value,
                    Err(_) => bail!(bad()),
                }
            }
            _ => bail!(bad()),
        }
    }
    if parts.next().is_some() {
        bail!(bad());
    }
    Ok(mac)
}

/// Lowercase colon form, `02:aa:bb:03:04:05`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_mac_accepts_mixed_case_and_dashes() {
        assert_eq!(
            parse_mac("02:AA:bb:0c:D0:ff").unwrap(),
            [0x02, 0xaa, 0xbb, 0x0c, 0xd0, 0xff]
        );
        assert_eq!(
            parse_mac("02-42-ac-11-00-02").unwrap(),
            [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]
        );
    }

    #[test]
    fn parse_mac_rejects_bad_input_and_names_it() {
        for bad in [
            "",
            "02:aa:bb:cc:dd",
            "02:aa:bb:cc:dd:ee:ff",
            "02:aa:bb:cc:dd:gg",
            "2:aa:bb:cc:dd:ee",
            "002:aa:bb:cc:dd:e",
            "02:aa:bb:cc:dd:ee:",
            "02:aa-bb:cc:dd:ee",
            "+2:aa:bb:cc:dd:ee",
            " 02:aa:bb:cc:dd:ee",
        ] {
            let err = parse_mac(bad).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{bad:?}")),
                "error for {bad:?} does not name it: {err}"
            );
            assert!(err.contains("invalid MAC address"), "{err}");
        }
    }

    #[test]
    fn format_mac_is_lowercase_and_round_trips() {
        let mac = [0x02, 0xAB, 0x0C, 0x00, 0xFF, 0x10];
        assert_eq!(format_mac(&mac), "02:ab:0c:00:ff:10");
        assert_eq!(parse_mac(&format_mac(&mac)).unwrap(), mac);
    }
}
