import Foundation

/// Whisper's language names and ISO 639-1 codes, so replies that say `"english"` become `"en"`.
package enum LanguageCodes {
    /// Lowercased English names (as Whisper, OpenAI and whisper.cpp report them) to codes.
    static let codesByName: [String: String] = [
        "afrikaans": "af", "albanian": "sq", "amharic": "am", "arabic": "ar", "armenian": "hy", "assamese": "as",
        "azerbaijani": "az", "bashkir": "ba", "basque": "eu", "belarusian": "be", "bengali": "bn", "bosnian": "bs",
        "breton": "br", "bulgarian": "bg", "burmese": "my", "myanmar": "my", "cantonese": "yue", "catalan": "ca",
        "valencian": "ca", "chinese": "zh", "croatian": "hr", "czech": "cs", "danish": "da", "dutch": "nl",
        "flemish": "nl", "english": "en", "estonian": "et", "faroese": "fo", "finnish": "fi", "french": "fr",
        "galician": "gl", "georgian": "ka", "german": "de", "greek": "el", "gujarati": "gu", "haitian creole": "ht",
        "haitian": "ht", "hausa": "ha", "hawaiian": "haw", "hebrew": "he", "hindi": "hi", "hungarian": "hu",
        "icelandic": "is", "indonesian": "id", "italian": "it", "japanese": "ja", "javanese": "jw", "kannada": "kn",
        "kazakh": "kk", "khmer": "km", "korean": "ko", "lao": "lo", "latin": "la", "latvian": "lv", "lingala": "ln",
        "lithuanian": "lt", "luxembourgish": "lb", "letzeburgesch": "lb", "macedonian": "mk", "malagasy": "mg",
        "malay": "ms", "malayalam": "ml", "maltese": "mt", "maori": "mi", "marathi": "mr", "mongolian": "mn",
        "nepali": "ne", "norwegian": "no", "nynorsk": "nn", "occitan": "oc", "pashto": "ps", "pushto": "ps",
        "persian": "fa", "polish": "pl", "portuguese": "pt", "punjabi": "pa", "panjabi": "pa", "romanian": "ro",
        "moldavian": "ro", "moldovan": "ro", "russian": "ru", "sanskrit": "sa", "serbian": "sr", "shona": "sn",
        "sindhi": "sd", "sinhala": "si", "sinhalese": "si", "slovak": "sk", "slovenian": "sl", "somali": "so",
        "spanish": "es", "castilian": "es", "sundanese": "su", "swahili": "sw", "swedish": "sv", "tagalog": "tl",
        "tajik": "tg", "tamil": "ta", "tatar": "tt", "telugu": "te", "thai": "th", "tibetan": "bo", "turkish": "tr",
        "turkmen": "tk", "ukrainian": "uk", "urdu": "ur", "uzbek": "uz", "vietnamese": "vi", "welsh": "cy",
        "yiddish": "yi", "yoruba": "yo",
    ]

    /// The ISO code for `language`: a known name becomes its code, a code stays as it is (lowercased), anything
    /// else is nil.
    package static func code(for language: String) -> String? {
        let lowered = language.trimmingCharacters(in: .whitespaces).lowercased()
        if let code = self.codesByName[lowered] {
            return code
        }
        let codes = Set(self.codesByName.values)
        if codes.contains(lowered) {
            return lowered
        }
        // Regional tags such as `en-US` or `pt_BR` keep their language part.
        let base = String(lowered.prefix { $0 != "-" && $0 != "_" })
        return codes.contains(base) ? base : nil
    }

    /// The English name Whisper reports for `code` (`en` → `english`), as OpenAI's verbose replies name languages.
    package static func name(for code: String) -> String? {
        let lowered = code.lowercased()
        // Several names share some codes; Whisper's own table names these.
        let canonical = [
            "es": "spanish", "ro": "romanian", "lb": "luxembourgish", "pa": "punjabi", "ps": "pashto",
            "si": "sinhala", "nl": "dutch", "ht": "haitian creole", "my": "myanmar", "ca": "catalan",
        ]
        if let name = canonical[lowered] {
            return name
        }
        return self.codesByName.filter { $0.value == lowered }.map(\.key).sorted().first
    }
}
