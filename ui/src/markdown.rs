//! An API answer's Markdown (issue 13's panel) as a tree of safe nodes, which the panel builds with
//! the DOM element by element: pulldown-cmark reads it; nothing of the answer is ever inserted as
//! HTML (raw HTML in the answer shows as text), no image is loaded (its text shows instead), and a
//! link is a link only to an `https:` address, opened with `rel="noopener noreferrer"`.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag};

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Element { tag: &'static str, attrs: Vec<(&'static str, String)>, children: Vec<Node> },
    Text(String),
}

/// The element tag names the tree can hold (and nothing else).
pub const TAGS: &[&str] = &[
    "p",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "code",
    "ul",
    "ol",
    "li",
    "em",
    "strong",
    "del",
    "sup",
    "sub",
    "a",
    "span",
    "table",
    "thead",
    "tr",
    "th",
    "td",
    "br",
    "hr",
    "dl",
    "dt",
    "dd",
    "div",
];

fn element(tag: &'static str, attrs: Vec<(&'static str, String)>) -> Node {
    Node::Element { tag, attrs, children: Vec::new() }
}

/// An address the panel may link to.
fn safe_link(url: &str) -> bool {
    url.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")) && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// The answer's headings sit below the panel's own (h1, h2).
fn heading(level: HeadingLevel) -> &'static str {
    match level {
        HeadingLevel::H1 => "h3",
        HeadingLevel::H2 => "h4",
        HeadingLevel::H3 => "h5",
        _ => "h6",
    }
}

fn open(tag: Tag) -> Node {
    match tag {
        Tag::Paragraph => element("p", vec![]),
        Tag::Heading { level, .. } => element(heading(level), vec![]),
        Tag::BlockQuote(_) => element("blockquote", vec![]),
        Tag::CodeBlock(kind) => {
            let language = match kind {
                CodeBlockKind::Fenced(info) => info.split_whitespace().next().unwrap_or_default().chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
                CodeBlockKind::Indented => String::new(),
            };
            let attrs = if language.is_empty() { vec![] } else { vec![("data-language", language)] };
            element("pre", attrs)
        }
        Tag::List(Some(start)) => element("ol", vec![("start", start.to_string())]),
        Tag::List(None) => element("ul", vec![]),
        Tag::Item => element("li", vec![]),
        Tag::Emphasis => element("em", vec![]),
        Tag::Strong => element("strong", vec![]),
        Tag::Strikethrough => element("del", vec![]),
        Tag::Superscript => element("sup", vec![]),
        Tag::Subscript => element("sub", vec![]),
        Tag::Link { dest_url, .. } if safe_link(&dest_url) => {
            element("a", vec![("href", dest_url.to_string()), ("rel", "noopener noreferrer".into()), ("target", "_blank".into())])
        }
        // Any other link, and every image, keeps only its text: nothing is fetched or followed.
        Tag::Link { .. } | Tag::Image { .. } => element("span", vec![]),
        Tag::Table(_) => element("table", vec![]),
        Tag::TableHead => element("thead", vec![]),
        Tag::TableRow => element("tr", vec![]),
        Tag::TableCell => element("td", vec![]),
        Tag::DefinitionList => element("dl", vec![]),
        Tag::DefinitionListTitle => element("dt", vec![]),
        Tag::DefinitionListDefinition => element("dd", vec![]),
        Tag::HtmlBlock | Tag::FootnoteDefinition(_) | Tag::MetadataBlock(_) => element("div", vec![]),
    }
}

fn push(stack: &mut [Node], node: Node) {
    if let Some(Node::Element { children, .. }) = stack.last_mut() {
        match (children.last_mut(), node) {
            (Some(Node::Text(before)), Node::Text(more)) => before.push_str(&more),
            (_, node) => children.push(node),
        }
    }
}

/// The answer as nodes, in order. Cells of a table's head row are `th`.
pub fn render(markdown: &str) -> Vec<Node> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut stack = vec![element("div", vec![])];
    let mut in_head = false;
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Start(tag) => {
                in_head |= matches!(tag, Tag::TableHead);
                let node = match open(tag) {
                    Node::Element { tag: "td", attrs, children } if in_head => Node::Element { tag: "th", attrs, children },
                    node => node,
                };
                stack.push(node);
            }
            Event::End(end) => {
                in_head &= !matches!(end, pulldown_cmark::TagEnd::TableHead);
                if stack.len() > 1 {
                    let Some(mut done) = stack.pop() else { break };
                    // A code block's text goes in a `code` inside its `pre`.
                    if let Node::Element { tag: "pre", children, .. } = &mut done {
                        let code = Node::Element { tag: "code", attrs: vec![], children: std::mem::take(children) };
                        children.push(code);
                    }
                    push(&mut stack, done);
                }
            }
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) | Event::InlineMath(text) | Event::DisplayMath(text) => {
                push(&mut stack, Node::Text(text.to_string()))
            }
            Event::Code(text) => push(&mut stack, Node::Element { tag: "code", attrs: vec![], children: vec![Node::Text(text.to_string())] }),
            Event::FootnoteReference(label) => push(&mut stack, Node::Text(format!("[{label}]"))),
            Event::SoftBreak => push(&mut stack, Node::Text("\n".into())),
            Event::HardBreak => push(&mut stack, element("br", vec![])),
            Event::Rule => push(&mut stack, element("hr", vec![])),
            Event::TaskListMarker(done) => push(&mut stack, Node::Text(if done { "☑ " } else { "☐ " }.into())),
        }
    }
    // Unclosed elements (a cut answer) close where the text ends.
    while stack.len() > 1 {
        let Some(done) = stack.pop() else { break };
        push(&mut stack, done);
    }
    match stack.pop() {
        Some(Node::Element { children, .. }) => children,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(node: &Node) -> String {
        match node {
            Node::Text(text) => text.clone(),
            Node::Element { children, .. } => children.iter().map(text).collect(),
        }
    }

    fn tags(nodes: &[Node], out: &mut Vec<&'static str>) {
        for node in nodes {
            if let Node::Element { tag, children, .. } = node {
                out.push(tag);
                tags(children, out);
            }
        }
    }

    fn all_tags(markdown: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        tags(&render(markdown), &mut out);
        out
    }

    #[test]
    fn markdown_becomes_elements() {
        let nodes = render("# Title\n\nSome *em* and **strong** and `code`.\n\n- a\n- b\n\n```rust\nfn main() {}\n```\n");
        assert_eq!(
            all_tags("# Title\n\nSome *em* and **strong** and `code`.\n\n- a\n- b\n\n```rust\nfn main() {}\n```\n"),
            ["h3", "p", "em", "strong", "code", "ul", "li", "li", "pre", "code"]
        );
        assert_eq!(text(&nodes[0]), "Title");
        let Node::Element { attrs, .. } = &nodes[3] else { panic!() };
        assert_eq!(attrs, &[("data-language", "rust".to_string())]);
        assert_eq!(text(&nodes[3]), "fn main() {}\n");
        assert_eq!(all_tags("| a | b |\n|---|---|\n| 1 | 2 |\n"), ["table", "thead", "th", "th", "tr", "td", "td"]);
    }

    #[test]
    fn html_in_the_answer_is_text_and_images_load_nothing() {
        let nodes = render("<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> there\n\n![a cat](https://example.org/cat.png)");
        let shown: String = nodes.iter().map(text).collect();
        assert!(shown.contains("<script>alert(1)</script>") && shown.contains("<img src=x onerror=alert(1)>"), "{shown}");
        assert!(shown.contains("a cat"));
        let mut found = Vec::new();
        tags(&nodes, &mut found);
        assert!(found.iter().all(|t| TAGS.contains(t)) && !found.contains(&"img") && !found.contains(&"script"), "{found:?}");
    }

    #[test]
    fn only_https_links_are_links() {
        let link = |markdown: &str| match &render(markdown)[0] {
            Node::Element { children, .. } => children[0].clone(),
            other => other.clone(),
        };
        let Node::Element { tag: "a", attrs, .. } = link("[docs](https://api-docs.deepseek.com)") else { panic!() };
        assert!(attrs.contains(&("rel", "noopener noreferrer".into())) && attrs.contains(&("href", "https://api-docs.deepseek.com".into())));
        for unsafe_link in ["[x](javascript:alert(1))", "[x](http://example.org)", "[x](data:text/html,hi)", "<javascript:alert(1)>", "[x](//example.org)"] {
            assert!(!matches!(link(unsafe_link), Node::Element { tag: "a", .. }), "{unsafe_link}");
        }
    }

    #[test]
    fn a_cut_answer_still_renders_what_came() {
        let nodes = render("**unfinished bold and `code");
        assert!(nodes.iter().map(text).collect::<String>().contains("unfinished bold"));
        assert!(render("").is_empty());
        assert_eq!(all_tags("- [x] done\n- [ ] not yet"), ["ul", "li", "li"]);
    }
}
