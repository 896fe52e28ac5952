//! Outgoing text: line breaks removed (one message is one IRC line) and text longer than Twitch's
//! 500-character limit split on word boundaries.

/// Twitch's limit per chat message, in characters.
pub const MAX_CHARS: usize = 500;

/// Splits `text` into messages of at most `max` characters, breaking between words where possible
/// and inside a word only when the word alone is longer than `max`. CR and LF become spaces so a
/// message can never smuggle a second IRC command.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let clean: String = text
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for word in clean.split(' ').filter(|w| !w.is_empty()) {
        let word_len = word.chars().count();
        if current_len > 0 && current_len + 1 + word_len <= max {
            current.push(' ');
            current.push_str(word);
            current_len += 1 + word_len;
            continue;
        }
        if current_len > 0 {
            out.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if word_len <= max {
            current.push_str(word);
            current_len = word_len;
            continue;
        }
        // A single word longer than a message: cut it at character boundaries.
        let chars: Vec<char> = word.chars().collect();
        for chunk in chars.chunks(max) {
            if chunk.len() == max {
                out.push(chunk.iter().collect());
            } else {
                current = chunk.iter().collect();
                current_len = chunk.len();
            }
        }
    }
    if current_len > 0 {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_message() {
        assert_eq!(split_message("hello there", 500), vec!["hello there"]);
    }

    #[test]
    fn long_text_splits_between_words_and_keeps_every_word() {
        let words: Vec<String> = (0..300).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let parts = split_message(&text, MAX_CHARS);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(
                p.chars().count() <= MAX_CHARS,
                "{} chars",
                p.chars().count()
            );
            assert!(!p.starts_with(' ') && !p.ends_with(' '));
        }
        assert_eq!(parts.join(" "), text);
    }

    #[test]
    fn a_giant_word_is_cut_at_char_boundaries() {
        let text = "é".repeat(1_200);
        let parts = split_message(&text, MAX_CHARS);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            vec![500, 500, 200]
        );
    }

    #[test]
    fn line_breaks_cannot_inject_commands() {
        let parts = split_message("hi\r\nPRIVMSG #other :spam", 500);
        assert_eq!(parts, vec!["hi PRIVMSG #other :spam"]);
    }

    #[test]
    fn blank_text_sends_nothing() {
        assert!(split_message("  \r\n ", 500).is_empty());
    }
}
