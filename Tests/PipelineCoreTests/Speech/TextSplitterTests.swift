import PipelineCore
import Testing

/// Splitting text for speech synthesis: where pieces end, what pause follows each, and what is never lost.
struct TextSplitterTests {
    /// A text, a budget, and the exact pieces (text and following pause) it must split into.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var budget: Int
        var minimumPiece: Int? = nil
        var text: String
        var pieces: [(String, PauseKind)]

        var testDescription: String { self.name }
    }

    /// Periods that do not end sentences; each budget ends a window just past the period, so a wrong sentence end
    /// would be the cut.
    private static let abbreviationCases: [Case] = [
        Case(
            name: "a title before a name", budget: 20, text: "I waited. Dr. Smith arrived late at night.",
            pieces: [("I waited.", .sentence), ("Dr. Smith arrived", .none), ("late at night.", .none)]),
        Case(
            name: "titles, street, number and time", budget: 20,
            text: "Mr. and Mrs. Brown met Prof. Green and St. John at No. 5 Main St. at 9 a.m. today.",
            pieces: [
                ("Mr. and Mrs. Brown", .none), ("met Prof. Green and", .none), ("St. John at No. 5", .none),
                ("Main St. at 9 a.m.", .none), ("today.", .none),
            ]),
        Case(
            name: "e.g., i.e. and etc.", budget: 22,
            text: "Use a fruit, e.g. Apples or pears, i.e. the fresh ones, etc. and more.",
            pieces: [
                ("Use a fruit,", .clause), ("e.g. Apples or pears,", .clause), ("i.e. the fresh ones,", .clause),
                ("etc. and more.", .none),
            ]),
        Case(
            name: "U.S. and U.K.", budget: 20, text: "The U.S. Army and the U.K. Navy met. They talked.",
            pieces: [("The U.S. Army and", .none), ("the U.K. Navy met.", .sentence), ("They talked.", .none)]),
        Case(
            name: "initials and degrees", budget: 20, text: "J. R. R. Tolkien wrote it. Then Ph.D. students read it.",
            pieces: [
                ("J. R. R. Tolkien", .none), ("wrote it.", .sentence), ("Then Ph.D. students", .none),
                ("read it.", .none),
            ]),
        Case(
            name: "a number abbreviation before a word ends the sentence", budget: 12, text: "Say no. Then go.",
            pieces: [("Say no.", .sentence), ("Then go.", .none)]),
    ]

    /// Periods inside numbers, addresses and names, which are followed by no space.
    private static let tokenCases: [Case] = [
        Case(
            name: "decimals and thousands", budget: 20, text: "Pi is 3.14 and the total was 1,000.5 dollars. Done.",
            pieces: [("Pi is 3.14 and the", .none), ("total was 1,000.5", .none), ("dollars. Done.", .none)]),
        Case(
            name: "a version number, then a sentence end after a number", budget: 24,
            text: "Upgrade to v2.1.3 today. It fixes bug 12. Then rest.",
            pieces: [("Upgrade to v2.1.3 today.", .sentence), ("It fixes bug 12.", .sentence), ("Then rest.", .none)]),
        Case(
            name: "a URL with dots and a query string", budget: 30,
            text: "See https://www.example.com/a.b/c?q=1&x=2.5 for details. Then stop.",
            pieces: [
                ("See", .none), ("https://www.example.com/a.b/c?", .none), ("q=1&x=2.5 for details.", .sentence),
                ("Then stop.", .none),
            ]),
        Case(
            name: "an email address and a file name", budget: 30,
            text: "Write to jane.doe@example.co.uk or open report.pdf. We reply fast.",
            pieces: [
                ("Write to", .none), ("jane.doe@example.co.uk or open", .none), ("report.pdf. We reply fast.", .none),
            ]),
        Case(
            name: "a bare domain at a sentence end", budget: 24, text: "Go to www.example.com. It is up.",
            pieces: [("Go to www.example.com.", .sentence), ("It is up.", .none)]),
    ]

    /// Ellipses, quotes and brackets around sentence ends.
    private static let punctuationCases: [Case] = [
        Case(
            name: "an ellipsis before a lowercase word is a clause, before a capital a sentence", budget: 16,
            text: "Well... maybe we should go. Wait... What was that?",
            pieces: [
                ("Well...", .clause), ("maybe we should", .none), ("go. Wait...", .sentence), ("What was that?", .none),
            ]
        ),
        Case(
            name: "closing quotes and brackets stay with their sentence", budget: 20,
            text: "He said, \"Stop.\" Then he ran. (It was late.) \"Why?\" she asked. We slept.",
            pieces: [
                ("He said, \"Stop.\"", .sentence), ("Then he ran.", .sentence), ("(It was late.)", .sentence),
                ("\"Why?\" she asked.", .sentence), ("We slept.", .none),
            ]),
        Case(
            name: "an ellipsis character before a capital ends a sentence", budget: 8, text: "Hmm… Fine. Yes.",
            pieces: [("Hmm…", .sentence), ("Fine.", .sentence), ("Yes.", .none)]),
        Case(
            name: "curly quotes and a spaced ellipsis", budget: 24, text: "“Wait . . . what?” I asked. “Nothing.”",
            pieces: [("“Wait . . . what?”", .sentence), ("I asked. “Nothing.”", .none)]),
    ]

    /// CJK sentences, which put no space after punctuation.
    private static let cjkCases: [Case] = [
        Case(
            name: "Chinese sentences", budget: 10, text: "今天天气很好。我们去公园吧！你觉得怎么样？",
            pieces: [("今天天气很好。", .sentence), ("我们去公园吧！", .sentence), ("你觉得怎么样？", .none)]),
        Case(
            name: "Japanese sentences", budget: 10, text: "これはペンです。あれは本ですか？はい、そうです。",
            pieces: [("これはペンです。", .sentence), ("あれは本ですか？", .sentence), ("はい、そうです。", .none)]),
        Case(
            name: "a quotation that the sentence goes on after ends a clause", budget: 12,
            text: "彼は「行こう。」と言った。それで終わり。",
            pieces: [("彼は「行こう。」", .clause), ("と言った。それで終わり。", .none)]),
        Case(
            name: "a quotation followed by another ends a sentence", budget: 12, text: "「はい。」「いいえ。」「そうですか。」",
            pieces: [("「はい。」「いいえ。」", .sentence), ("「そうですか。」", .none)]),
        Case(
            name: "CJK and Latin mixed", budget: 14, text: "我喜欢Swift语言。It is fast. 它很快！",
            pieces: [("我喜欢Swift语言。", .sentence), ("It is fast.", .sentence), ("它很快！", .none)]),
        Case(
            name: "a long CJK sentence splits after its comma", budget: 10, text: "今天天气很好，我们去公园吧",
            pieces: [("今天天气很好，", .clause), ("我们去公园吧", .none)]),
        Case(
            name: "CJK text without punctuation splits at the budget", budget: 5, text: "今天天气很好我们去公园吧",
            pieces: [("今天天气很", .none), ("好我们去公", .none), ("园吧", .none)]),
        Case(
            name: "no piece starts with a small kana", budget: 3, minimumPiece: 0, text: "ちょっと待ってください",
            pieces: [("ちょっ", .none), ("と待っ", .none), ("てくだ", .none), ("さい", .none)]),
        Case(
            name: "ASCII marks between CJK characters", budget: 6, text: "你好!我们走吧……好的,谢谢——再见。",
            pieces: [
                ("你好!", .sentence), ("我们走吧……", .clause), ("好的,", .clause), ("谢谢——", .clause),
                ("再见。", .none),
            ]),
    ]

    /// Where budgets fall: paragraphs, clauses, words, characters and tails.
    private static let budgetCases: [Case] = [
        Case(
            name: "paragraph breaks end pieces", budget: 100,
            text: "First paragraph. Still first.\n\nSecond paragraph.\n \n\nThird.",
            pieces: [
                ("First paragraph. Still first.", .paragraph), ("Second paragraph.", .paragraph), ("Third.", .none),
            ]),
        Case(
            name: "a single line break is a space", budget: 100, text: "One line\nand the next.",
            pieces: [("One line and the next.", .none)]),
        Case(
            name: "a sentence exactly at the budget", budget: 19, text: "Twelve chars is ok. Next.",
            pieces: [("Twelve chars is ok.", .sentence), ("Next.", .none)]),
        Case(
            name: "a sentence one over the budget", budget: 18, text: "Twelve chars is ok. Next.",
            pieces: [("Twelve chars is", .none), ("ok. Next.", .none)]),
        Case(
            name: "sentences pack greedily", budget: 40,
            text: "One. Two two. Three three three. Four four four four. Five.",
            pieces: [("One. Two two. Three three three.", .sentence), ("Four four four four. Five.", .none)]),
        Case(
            name: "clauses", budget: 40,
            text: "When the rain stopped, the children ran outside; they played until dark: nobody wanted to go home.",
            pieces: [
                ("When the rain stopped,", .clause), ("the children ran outside;", .clause),
                ("they played until dark:", .clause), ("nobody wanted to go home.", .none),
            ]),
        Case(
            name: "dashes between spaces", budget: 24, text: "It was late — very late – and cold - too cold.",
            pieces: [("It was late —", .clause), ("very late – and cold -", .clause), ("too cold.", .none)]),
        Case(
            name: "words", budget: 30,
            text: "The quick brown fox jumps over the lazy dog and keeps on running far away",
            pieces: [
                ("The quick brown fox jumps over", .none), ("the lazy dog and keeps on", .none),
                ("running far away", .none),
            ]
        ),
        Case(
            name: "an over-long token splits by characters", budget: 20,
            text: "Go to https://example.com/a/very/long/path/segment now.",
            pieces: [
                ("Go to", .none), ("https://example.com/", .none), ("a/very/long/path/seg", .none),
                ("ment now.", .none),
            ]
        ),
        Case(
            name: "a tiny tail takes words from the piece before", budget: 40,
            text: "word word word word word word word word end.",
            pieces: [("word word word word word word word", .none), ("word end.", .none)]),
        Case(
            name: "without a minimum the tail stays tiny", budget: 40, minimumPiece: 0,
            text: "word word word word word word word word end.",
            pieces: [("word word word word word word word word", .none), ("end.", .none)]),
        Case(
            name: "a tiny last sentence takes the sentence before", budget: 40,
            text: "First. The second sentence is here now. Ok.",
            pieces: [("First.", .sentence), ("The second sentence is here now. Ok.", .none)]),
        Case(
            name: "without a minimum the last sentence stays tiny", budget: 40, minimumPiece: 0,
            text: "First. The second sentence is here now. Ok.",
            pieces: [("First. The second sentence is here now.", .sentence), ("Ok.", .none)]),
        Case(
            name: "a tiny clause tail takes the clause before", budget: 40,
            text: "Alpha, gamma delta epsilon zeta theta, ok.",
            pieces: [("Alpha,", .clause), ("gamma delta epsilon zeta theta, ok.", .none)]),
        Case(
            name: "without a minimum the clause tail stays tiny", budget: 40, minimumPiece: 0,
            text: "Alpha, gamma delta epsilon zeta theta, ok.",
            pieces: [("Alpha, gamma delta epsilon zeta theta,", .clause), ("ok.", .none)]),
        Case(
            name: "a tiny tail of a long token takes characters from the piece before", budget: 40,
            text: String(repeating: "x", count: 42),
            pieces: [(String(repeating: "x", count: 37), .none), (String(repeating: "x", count: 5), .none)]),
        Case(
            name: "a tiny paragraph stays its own piece", budget: 40, text: "Second sentence is here.\n\nOk.",
            pieces: [("Second sentence is here.", .paragraph), ("Ok.", .none)]),
        Case(
            name: "a budget of one character", budget: 1, text: "ab c",
            pieces: [("a", .none), ("b", .none), ("c", .none)]),
    ]

    /// Characters made of several scalars, which are never cut.
    private static let graphemeCases: [Case] = [
        Case(
            name: "emoji sequences, flags and combining marks", budget: 4,
            text: "👩‍👩‍👧👨‍👨‍👦👩‍❤️‍👨🇯🇵🇫🇷🏳️‍🌈👍🏽e\u{301}\u{323} ok",
            pieces: [
                ("👩‍👩‍👧👨‍👨‍👦👩‍❤️‍👨🇯🇵", .none), ("🇫🇷🏳️‍🌈👍🏽e\u{301}\u{323}", .none), ("ok", .none),
            ]),
        Case(
            name: "accented words", budget: 11, text: "naïve café résumé déjà vu",
            pieces: [("naïve café", .none), ("résumé déjà", .none), ("vu", .none)]),
    ]

    /// Every case, in the order of the groups above.
    static let cases = [
        Self.abbreviationCases, Self.tokenCases, Self.punctuationCases, Self.cjkCases, Self.budgetCases,
        Self.graphemeCases,
    ].flatMap { $0 }

    @Test(arguments: Self.cases)
    func splitsIntoTheExpectedPieces(_ testCase: Case) {
        let splitter = TextSplitter(budget: testCase.budget, minimumPiece: testCase.minimumPiece)
        let pieces = splitter.split(testCase.text)
        #expect(pieces.map(\.text) == testCase.pieces.map(\.0))
        #expect(pieces.map(\.pause) == testCase.pieces.map(\.1))
        Self.expectConsistent(pieces, of: testCase.text, budget: testCase.budget)
    }

    @Test(arguments: ["", " ", "\n\n\t \u{3000}\r\n", "\u{7}\u{200B}\u{FEFF}", " \u{0} \n "])
    func textWithNothingToSayGivesNoPieces(_ text: String) {
        #expect(TextSplitter(budget: 100).split(text).isEmpty)
        #expect(TextSplitter.normalize(text).isEmpty)
    }

    @Test(arguments: [
        ("  a \t b\u{00A0}c\u{3000}d  ", "a b c d"),
        ("a\nb\r\nc", "a b c"),
        ("a\n\nb", "a\n\nb"),
        ("a \n \t\n  b", "a\n\nb"),
        ("a\r\n\r\nb", "a\n\nb"),
        ("a\u{2029}b", "a\n\nb"),
        ("a\n\n\n\n\nb", "a\n\nb"),
        ("a\u{0}b\u{7}c\u{200B}d\u{FEFF}e\u{AD}f", "abcdef"),
        ("a \u{1B} b", "a b"),
        ("\n\nTitle\n\n", "Title"),
        (" \u{301}a\n\u{301}b", "a b"),
    ])
    func normalizationCollapsesWhitespaceKeepsBlankLinesAndDropsControls(_ text: String, _ normalized: String) {
        #expect(TextSplitter.normalize(text) == normalized)
        #expect(TextSplitter.normalize(normalized) == normalized)
    }

    @Test
    func rangesIndexTheNormalizedText() {
        let text = "  Hello,\tworld.\n\n\nNext   paragraph here. "
        let pieces = TextSplitter(budget: 14).split(text)
        #expect(TextSplitter.normalize(text) == "Hello, world.\n\nNext paragraph here.")
        #expect(pieces.map(\.range) == [0..<13, 15..<29, 30..<35])
        #expect(pieces.map(\.pause) == [.paragraph, .none, .none])
    }

    @Test
    func theMinimumPieceDefaultsToAnEighthOfTheBudgetAtMostForty() {
        #expect(TextSplitter(budget: 4096).minimumPiece == 40)
        #expect(TextSplitter(budget: 100).minimumPiece == 12)
        #expect(TextSplitter(budget: 7).minimumPiece == 0)
        #expect(TextSplitter(budget: 100, minimumPiece: 30).minimumPiece == 30)
    }

    @Test
    func tenThousandCharactersOfEnglishMakeThreePiecesForOpenAI() {
        let words = WordSource(seed: 10_000)
        var text = ""
        var length = 0
        while length < 10_000 {
            let sentence = words.englishSentence() + " "
            text += sentence
            length += sentence.count
        }
        let pieces = TextSplitter(budget: 4096).split(text)
        #expect(text.count >= 10_000)
        #expect(pieces.count == 3)
        #expect(pieces.map(\.pause) == [.sentence, .sentence, .none])
        #expect(pieces.allSatisfy { $0.text.count <= 4096 && $0.text.last == "." })
        Self.expectConsistent(pieces, of: text, budget: 4096)
    }

    @Test(arguments: [1, 2, 3, 7, 16, 40, 250, 4096])
    func generatedTextsKeepEveryRule(budget: Int) {
        let words = WordSource(seed: UInt64(budget))
        for _ in 0..<25 {
            let text = words.mixedText(tokens: words.below(200))
            let splitter = TextSplitter(budget: budget)
            let pieces = splitter.split(text)
            Self.expectConsistent(pieces, of: text, budget: budget)
            #expect(splitter.split(text) == pieces)
        }
    }

    @Test
    func aLongTextSplitsAndKeepsEveryRule() {
        let words = WordSource(seed: 200_000)
        var text = ""
        var length = 0
        while length < 200_000 {
            let chunk = words.mixedText(tokens: 50)
            text += chunk
            length += chunk.count
        }
        let pieces = TextSplitter(budget: 4096).split(text)
        Self.expectConsistent(pieces, of: text, budget: 4096)
    }

    /// Checks what every split must keep: each piece non-empty, trimmed and within the budget; ranges in order,
    /// indexing the normalized text, with only a space or a blank line between them; a paragraph pause exactly
    /// before a blank line; the last pause `none`; and the words of the text, in order, rebuilt from the pieces.
    private static func expectConsistent(
        _ pieces: [TextPiece], of text: String, budget: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let normalized = Array(TextSplitter.normalize(text))
        let problems = Self.problems(in: pieces, of: normalized, budget: budget)
        #expect(problems.isEmpty, "\(problems.prefix(3)) in \(text.debugDescription)", sourceLocation: sourceLocation)
    }

    /// What breaks a rule in `pieces` of the characters `normalized`, described for a failure message.
    private static func problems(in pieces: [TextPiece], of normalized: [Character], budget: Int) -> [String] {
        guard let first = pieces.first, let last = pieces.last else {
            return normalized.isEmpty ? [] : ["no pieces"]
        }
        var problems: [String] = []
        if first.range.lowerBound != 0 || last.range.upperBound != normalized.count {
            problems.append("ranges do not cover the text")
        }
        if last.pause != PauseKind.none { problems.append("last pause \(last.pause)") }
        var rebuilt = ""
        var previous: TextPiece?
        for piece in pieces {
            if piece.text.isEmpty || piece.text.count > budget || piece.text.count != piece.range.count
                || String(normalized[piece.range]) != piece.text || piece.text.first?.isWhitespace != false
                || piece.text.last?.isWhitespace != false
            {
                problems.append("bad piece \(piece)")
            }
            if let previous {
                let gap = String(normalized[previous.range.upperBound..<piece.range.lowerBound])
                if !["", " ", "\n\n"].contains(gap) || (gap == "\n\n") != (previous.pause == .paragraph) {
                    problems.append("bad join \(gap.debugDescription) after \(previous)")
                }
                // Pieces join with a space, or with nothing where the text had none (inside CJK).
                rebuilt += gap.isEmpty ? "" : " "
            }
            rebuilt += piece.text
            previous = piece
        }
        let words = String(normalized).split(separator: "\n\n", omittingEmptySubsequences: false).joined(separator: " ")
        if rebuilt != words { problems.append("rebuilt text differs") }
        return problems
    }
}

/// Seeded text for property tests: English sentences, and a mix of everything the splitter treats specially.
private struct WordSource {
    private let random: RandomSource

    /// A source whose texts depend only on `seed`.
    init(seed: UInt64) {
        self.random = RandomSource(seed: seed)
    }

    /// A number in `0..<bound`.
    func below(_ bound: Int) -> Int {
        min(bound - 1, Int(self.random.unit() * Double(bound)))
    }

    /// One of `choices`.
    func pick(_ choices: [String]) -> String {
        choices[self.below(choices.count)]
    }

    /// A capitalized sentence of 5 to 24 common words, with an occasional comma, ending in a period.
    func englishSentence() -> String {
        let count = 5 + self.below(20)
        var words: [String] = []
        for index in 0..<count {
            var word = self.pick(Self.english)
            if index == 0 { word = word.prefix(1).uppercased() + word.dropFirst() }
            if index < count - 1, self.below(8) == 0 { word += "," }
            words.append(word)
        }
        return words.joined(separator: " ") + "."
    }

    /// `tokens` tokens of every kind, with whitespace, paragraph breaks and control characters between them.
    func mixedText(tokens: Int) -> String {
        var text = ""
        for _ in 0..<tokens {
            switch self.below(10) {
            case 0: text += self.pick(Self.special)
            case 1: text += self.pick(Self.cjk)
            case 2: text += self.pick(Self.graphemes)
            case 3: text += String(repeating: self.pick(["x", "é", "中", "🇯🇵", "/"]), count: 1 + self.below(300))
            default: text += self.pick(Self.english)
            }
            text += self.pick(Self.marks)
            text += self.pick(Self.separators)
        }
        return text
    }

    private static let english = [
        "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "speech", "audio", "worker", "and", "of",
        "text", "budget", "pieces", "sentence", "while", "because", "Smith", "London", "a", "I", "synthesis",
    ]
    private static let special = [
        "Dr.", "Mr.", "e.g.", "i.e.", "U.S.", "a.m.", "etc.", "No. 5", "J. R. R.", "3.14", "1,000.5", "v2.1.3",
        "https://example.com/a.b?q=1&r=2", "www.x.y/z?q=1", "name@example.com", "report.pdf", "...", "…", "—", "–",
        "-", "\"", "'", "“", "”", "(", ")", "«", "»",
    ]
    private static let cjk = [
        "今天天气很好。", "我们去公园吧！", "你觉得怎么样？", "これはペンです。", "ちょっと待って", "「行こう。」", "，", "、", "：", "；", "——",
        "……", "３.１４",
    ]
    private static let graphemes = [
        "👩‍👩‍👧", "🇯🇵🇫🇷", "👍🏽", "e\u{301}\u{323}", "\u{301}", "한국어", "ไทย", "🏳️‍🌈",
    ]
    private static let marks = ["", "", "", "", ".", ",", "!", "?", ";", ":", "...", ".”", "?)", "。", "，"]
    private static let separators = [
        " ", " ", " ", " ", " ", "", "  ", "\t", "\n", "\n\n", " \n \n ", "\r\n\r\n", "\u{7}", "\u{200B}", "\u{2029}",
        "\u{A0}",
    ]
}
