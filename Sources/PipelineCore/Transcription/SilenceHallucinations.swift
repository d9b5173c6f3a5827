import Foundation

/// Phrases Whisper-family models are known to produce over silence or music, by their normalized text.
///
/// A segment whose whole text is one of these is dropped when the audio under it is not speech (or the provider
/// said so), as faster-whisper's and WhisperX's users learned to do.
package enum SilenceHallucinations {
    /// Normalized phrases (lowercased, punctuation removed, hyphens made spaces, single spaces).
    package static let phrases: Set<String> = [
        "thank you", "thank you very much", "thanks for watching", "thank you for watching",
        "thank you so much for watching", "thanks for watching and see you next time", "please subscribe",
        "please like and subscribe", "subscribe to my channel", "dont forget to like and subscribe",
        "see you next time", "well see you next time", "see you in the next video",
        "subtitles by the amaraorg community", "subtitles by the amara org community", "transcribed by",
        "transcription by castingwords", "you", "bye", "bye bye", "so", "okay", "ok", "oh", "um", "uh", "hmm",
        "music", "silence", "applause", "laughter", "upbeat music", "soft music", "foreign", "the end",
        "sous titres réalisés para la communauté damaraorg", "sous titres réalisés par la communauté damaraorg",
        "untertitel im auftrag des zdf für funk 2017", "untertitel der amaraorg community",
        "ご視聴ありがとうございました", "字幕by索兰娅", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "продолжение следует", "субтитры сделал dimatorzok", "gracias por ver el video", "gracias",
    ]

    /// `text` normalized as the phrases are.
    ///
    /// Hyphens separate words here: the real model writes "Bye-bye." where the list says "bye bye".
    package static func normalize(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace || $0 == "-" })
            .map { String($0.unicodeScalars.filter { !CharacterSetLite.isPunctuation($0) }.map(Character.init)) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Whether `text` says anything: has a letter or a digit. Over noise Whisper writes ".", ". ." or "♪".
    package static func hasWords(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.isAlphabetic || $0.properties.numericType != nil }
    }

    /// Whether `text` is a description of sound rather than speech: wholly in brackets, parentheses or asterisks
    /// ("[Music]", "(upbeat music)", "[BLANK_AUDIO]", "*sighs*").
    package static func isAnnotation(_ text: String) -> Bool {
        var trimmed = Substring(text.trimmingWhitespace)
        if trimmed.last == "." {
            trimmed = trimmed.dropLast()
        }
        let pairs: [Character: Character] = ["[": "]", "(": ")", "*": "*"]
        guard trimmed.count >= 3, let first = trimmed.first, let close = pairs[first], trimmed.last == close else {
            return false
        }
        // One bracketed stretch, not "(a) and (b)".
        return !trimmed.dropFirst().dropLast().contains(close)
    }

    /// Whether `text` is a known hallucination: a listed phrase, a sound description, or no words at all.
    package static func isKnown(_ text: String) -> Bool {
        let normalized = self.normalize(text)
        return normalized.isEmpty || self.isAnnotation(text) || self.phrases.contains(normalized)
            || self.phrases.contains(normalized.replacingOccurrences(of: " ", with: ""))
    }
}
