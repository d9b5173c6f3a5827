import Foundation

/// Phrases Whisper-family models are known to produce over silence or music, by their normalized text.
///
/// A segment whose whole text is one of these is dropped when the audio under it is mostly not speech
/// (or the provider said so), as faster-whisper's and WhisperX's users learned to do.
package enum SilenceHallucinations {
    /// Normalized phrases (lowercased, punctuation removed, single spaces).
    package static let phrases: Set<String> = [
        "thank you", "thank you very much", "thanks for watching", "thank you for watching",
        "thank you so much for watching", "thanks for watching and see you next time", "please subscribe",
        "please like and subscribe", "subscribe to my channel", "dont forget to like and subscribe",
        "subtitles by the amaraorg community", "subtitles by the amara org community", "transcribed by",
        "transcription by castingwords", "you", "bye", "bye bye", "so", "okay", "oh", "um", "uh", "hmm",
        "music", "silence", "applause", "laughter", "upbeat music", "soft music", "foreign", "the end",
        "sous-titres réalisés para la communauté damaraorg", "sous titres réalisés par la communauté damaraorg",
        "untertitel im auftrag des zdf für funk 2017", "untertitel der amaraorg-community",
        "ご視聴ありがとうございました", "字幕by索兰娅", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "продолжение следует", "субтитры сделал dimatorzok", "gracias por ver el video", "gracias",
    ]

    /// `text` normalized as the phrases are.
    package static func normalize(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace })
            .map {
                String(
                    $0.unicodeScalars.filter { !CharacterSetLite.isPunctuation($0) || $0 == "-" }.map(Character.init))
            }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Whether `text` is a known hallucination.
    package static func isKnown(_ text: String) -> Bool {
        let normalized = self.normalize(text)
        return normalized.isEmpty || self.phrases.contains(normalized)
            || self.phrases.contains(normalized.replacingOccurrences(of: " ", with: ""))
    }
}
