//! A plain table with three renderings: aligned terminal text, GitHub markdown and HTML.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Names.
    Left,
    /// Numbers.
    Right,
}

/// Header, alignment and rows of one table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            headers: columns.iter().map(|(h, _)| h.to_string()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; missing cells are blank, extra cells are dropped.
    pub fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                w[i] = w[i].max(cell.chars().count());
            }
        }
        w
    }

    /// Columns padded and separated by two spaces, each line indented by `indent` spaces.
    pub fn to_terminal(&self, indent: usize) -> String {
        let widths = self.widths();
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut s = " ".repeat(indent);
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = widths[i] - cell.chars().count();
                match self.aligns[i] {
                    Align::Left => {
                        s.push_str(cell);
                        s.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        s.push_str(&" ".repeat(pad));
                        s.push_str(cell);
                    }
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&self.headers);
        for row in &self.rows {
            line(row);
        }
        out
    }

    /// An HTML `<table>`: numbers right-aligned (class `num`), every cell escaped; a row whose
    /// first cell is listed in `muted` gets class `muted`.
    pub fn to_html(&self, muted: &[&str]) -> String {
        let class = |a: &Align| match a {
            Align::Left => "",
            Align::Right => " class=\"num\"",
        };
        let mut out = String::from("<table>\n<thead><tr>");
        for (h, a) in self.headers.iter().zip(&self.aligns) {
            out.push_str(&format!("<th{}>{}</th>", class(a), html_escape(h)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            let mute = row.first().is_some_and(|c| muted.contains(&c.as_str()));
            out.push_str(if mute { "<tr class=\"muted\">" } else { "<tr>" });
            for (cell, a) in row.iter().zip(&self.aligns) {
                out.push_str(&format!("<td{}>{}</td>", class(a), html_escape(cell)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }

    /// A GitHub-flavoured markdown table.
    pub fn to_markdown(&self) -> String {
        let escape = |c: &str| c.replace('|', "\\|");
        let mut out = String::new();
        out.push_str("| ");
        out.push_str(&self.headers.iter().map(|h| escape(h)).collect::<Vec<_>>().join(" | "));
        out.push_str(" |\n|");
        for a in &self.aligns {
            out.push_str(match a {
                Align::Left => ":---|",
                Align::Right => "---:|",
            });
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str("| ");
            out.push_str(&row.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | "));
            out.push_str(" |\n");
        }
        out
    }
}

/// Text made safe inside HTML elements and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_both_ways() {
        let mut t = Table::new(&[("target", Align::Left), ("p50", Align::Right)]);
        t.push(vec!["bh".into(), "1.23µs".into()]);
        t.push(vec!["iomap".into(), "812ns".into()]);
        assert_eq!(t.to_terminal(0), "target     p50\nbh      1.23µs\niomap    812ns\n");
        assert_eq!(t.to_markdown(), "| target | p50 |\n|:---|---:|\n| bh | 1.23µs |\n| iomap | 812ns |\n");
        t.push(vec!["<b>&".into(), "1".into()]);
        let html = t.to_html(&["iomap"]);
        assert!(html.contains("<th>target</th><th class=\"num\">p50</th>"), "{html}");
        assert!(html.contains("<tr class=\"muted\"><td>iomap</td><td class=\"num\">812ns</td></tr>"), "{html}");
        assert!(html.contains("<td>&lt;b&gt;&amp;</td>"), "{html}");
    }
}
