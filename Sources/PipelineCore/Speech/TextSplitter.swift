/// Splits text into pieces for speech synthesis, each within a character budget, at the most natural places.
///
/// Pieces end, in order of preference, at a sentence end, a clause boundary, a word boundary (a space, or between
/// two CJK characters), or, only for a run with none of those, between two characters. Sentences are packed
/// greedily, so there are as few pieces as the budget allows; a paragraph break always ends a piece.
/// Lengths and offsets count `Character`s (grapheme clusters) of ``normalize(_:)``'s result, so no cluster is cut.
package struct TextSplitter: Sendable {
    /// The most characters a piece may hold.
    package let budget: Int

    /// A piece shorter than this is avoided when an earlier cut of the same kind can lengthen it.
    package let minimumPiece: Int

    /// A splitter whose pieces hold at most `budget` characters (at least 1).
    ///
    /// `minimumPiece` defaults to an eighth of the budget, at most 40 characters; 0 turns tail balancing off.
    package init(budget: Int, minimumPiece: Int? = nil) {
        precondition(budget > 0, "a text budget must be at least one character, got \(budget)")
        self.budget = budget
        self.minimumPiece = max(0, minimumPiece ?? min(budget / 8, 40))
    }

    /// The pieces of `text` in reading order; empty when `text` has nothing to say.
    package func split(_ text: String) -> [TextPiece] {
        // Offsets count the characters of the normalized string itself: dropping a control character can join
        // its neighbours into one cluster, so they are segmented again rather than carried over from `text`.
        let characters = Array(Self.normalize(text))
        let boundaries = Boundaries(characters)
        var pieces: [TextPiece] = []
        for (index, paragraph) in boundaries.paragraphs.enumerated() {
            var start = paragraph.lowerBound
            while let greedy = self.cut(from: start, to: paragraph.upperBound, in: boundaries) {
                let cut = self.balanced(greedy, from: start, to: paragraph.upperBound, in: boundaries)
                pieces.append(TextPiece(characters, start..<cut.end, pause: cut.level.pause))
                start = boundaries.start(after: cut.end)
            }
            let isLast = index == boundaries.paragraphs.count - 1
            pieces.append(TextPiece(characters, start..<paragraph.upperBound, pause: isLast ? .none : .paragraph))
        }
        return pieces
    }

    /// Where a piece starting at `start` ends when the rest up to `end` does not fit: the last boundary of the
    /// strongest kind within the budget, or the budget itself; `nil` when the rest fits.
    func cut(from start: Int, to end: Int, in boundaries: Boundaries) -> Cut? {
        guard end - start > self.budget else { return nil }
        let limit = start + self.budget
        for level in Cut.Level.searched {
            if let position = boundaries.last(level, atMost: limit), position > start {
                return Cut(end: position, level: level)
            }
        }
        return Cut(end: limit, level: .character)
    }

    /// `greedy`, or an earlier cut of the same kind when the piece after `greedy` would be shorter than
    /// ``minimumPiece``: moving the cut back lengthens that tail without making any cut less natural.
    func balanced(_ greedy: Cut, from start: Int, to end: Int, in boundaries: Boundaries) -> Cut {
        let nextStart = boundaries.start(after: greedy.end)
        let nextEnd = self.cut(from: nextStart, to: end, in: boundaries)?.end ?? end
        guard nextEnd - nextStart < self.minimumPiece else { return greedy }
        // The latest cut whose following piece reaches the minimum moves the least text into that piece.
        let latestNextStart = nextEnd - self.minimumPiece
        let candidate =
            greedy.level == .character
            ? latestNextStart : boundaries.last(greedy.level, startingNextAtMost: latestNextStart)
        guard let candidate, candidate - start >= self.minimumPiece,
            nextEnd - boundaries.start(after: candidate) <= self.budget
        else { return greedy }
        return Cut(end: candidate, level: greedy.level)
    }
}

/// One piece of text to synthesize.
package struct TextPiece: Sendable, Equatable {
    /// The words of the piece, with single spaces and no space at either end.
    package var text: String

    /// The pause that should follow this piece when the audio is joined.
    package var pause: PauseKind

    /// Character offsets of ``text`` in ``TextSplitter/normalize(_:)``'s result, for captions.
    package var range: Range<Int>

    /// A piece with the given fields.
    package init(text: String, pause: PauseKind, range: Range<Int>) {
        self.text = text
        self.pause = pause
        self.range = range
    }

    /// The piece covering `range` of `characters`.
    init(_ characters: [Character], _ range: Range<Int>, pause: PauseKind) {
        self.init(text: String(characters[range]), pause: pause, range: range)
    }
}

/// The pause that follows a piece, strongest first.
package enum PauseKind: String, Sendable, Equatable, CaseIterable {
    /// The piece ended a paragraph.
    case paragraph
    /// The piece ended a sentence (`.` `!` `?` `…` `。` `！` `？`).
    case sentence
    /// The piece ended a clause (`,` `;` `:` `—` `–` `，` `；` `：` `、`).
    case clause
    /// The piece was cut inside a clause, or it is the last piece.
    case none
}

extension TextSplitter {
    /// Where a piece ends and how natural a place that is.
    struct Cut {
        /// How natural a cut is, most natural first.
        enum Level {
            case sentence, clause, word, character

            /// The levels found in the text, in the order a cut looks for them.
            static let searched: [Level] = [.sentence, .clause, .word]

            /// The pause a piece cut here is followed by.
            var pause: PauseKind {
                switch self {
                case .sentence: .sentence
                case .clause: .clause
                case .word, .character: .none
                }
            }
        }

        /// The offset just past the piece's last character.
        var end: Int
        /// How natural the cut is.
        var level: Level
    }
}
