//! Aligned text tables.

/// Render rows under a header, columns separated by two spaces, the last column unpadded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(
            (0..cols)
                .map(|i| r.get(i).map(String::as_str).unwrap_or(""))
                .collect(),
        );
    }
    out
}

/// `-` for an empty cell.
pub fn cell(s: impl AsRef<str>) -> String {
    let s = s.as_ref();
    if s.is_empty() {
        "-".to_string()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let t = render(
            &["A", "BBB", "C"],
            &[vec!["xx".into(), "y".into(), "z".into()], vec!["1".into()]],
        );
        assert_eq!(t, "A   BBB  C\nxx  y    z\n1\n");
    }
}
