extension TextSplitter {
    /// The paragraphs of a normalized text and the places inside them where a piece may end, found in one pass.
    ///
    /// A place is the offset just past a piece's last character; each list is in increasing order.
    struct Boundaries {
        /// The character offsets of each paragraph, in order.
        private(set) var paragraphs: [Range<Int>] = []
        /// Ends of sentences other than a paragraph's last.
        private(set) var sentenceEnds: [Int] = []
        /// Ends of clauses, including sentence-like ends that a lowercase word follows.
        private(set) var clauseEnds: [Int] = []
        /// Spaces, and places between two CJK characters.
        private(set) var wordEnds: [Int] = []
        /// What each character is to the splitter.
        private let kinds: [CharacterKind]

        /// The boundaries of `characters`, which must be normalized.
        init(_ characters: [Character]) {
            self.kinds = characters.map(CharacterKind.init)
            var paragraphStart = 0
            var index = 0
            while index < self.kinds.count {
                guard self.kinds[index] == .newline else {
                    index += 1
                    continue
                }
                if index > paragraphStart { self.paragraphs.append(paragraphStart..<index) }
                while index < self.kinds.count, self.kinds[index] == .newline { index += 1 }
                paragraphStart = index
            }
            if paragraphStart < self.kinds.count { self.paragraphs.append(paragraphStart..<self.kinds.count) }
            for paragraph in self.paragraphs {
                self.scan(paragraph, of: characters)
            }
        }

        /// Where the piece after a cut at `end` starts: past the space, if there is one.
        func start(after end: Int) -> Int {
            end < self.kinds.count && self.kinds[end] == .space ? end + 1 : end
        }

        /// The last place of `level` at or before `limit`.
        func last(_ level: Cut.Level, atMost limit: Int) -> Int? {
            let positions = self.positions(level)
            var low = 0
            var high = positions.count
            while low < high {
                let middle = (low + high) / 2
                if positions[middle] <= limit {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low > 0 ? positions[low - 1] : nil
        }

        /// The last place of `level` whose following piece starts at or before `limit`.
        func last(_ level: Cut.Level, startingNextAtMost limit: Int) -> Int? {
            guard let position = self.last(level, atMost: limit) else { return nil }
            return self.start(after: position) <= limit ? position : self.last(level, atMost: position - 1)
        }

        /// The places of `level`; every offset is a place for `character`, so that list is never asked for.
        private func positions(_ level: Cut.Level) -> [Int] {
            switch level {
            case .sentence: self.sentenceEnds
            case .clause: self.clauseEnds
            case .word, .character: self.wordEnds
            }
        }

        /// Records the places inside `paragraph`.
        private mutating func scan(_ paragraph: Range<Int>, of characters: [Character]) {
            var index = paragraph.lowerBound
            while index < paragraph.upperBound {
                switch self.kinds[index] {
                case .space:
                    self.wordEnds.append(index)
                    index += 1
                case .period, .ellipsis, .strongTerminator, .cjkTerminator:
                    index = self.scanTerminators(at: index, in: paragraph, of: characters)
                case .clausePunctuation, .dash, .cjkClause:
                    index = self.scanClausePunctuation(at: index, in: paragraph)
                case .hyphen:
                    // Only a hyphen standing alone between spaces is a dash; inside a word it joins.
                    if index > paragraph.lowerBound, index + 1 < paragraph.upperBound,
                        self.kinds[index - 1] == .space, self.kinds[index + 1] == .space
                    {
                        self.clauseEnds.append(index + 1)
                    }
                    index += 1
                case .cjkLetter, .cjkOpener:
                    if self.isAfterCJK(index, in: paragraph) {
                        self.wordEnds.append(index)
                    }
                    index += 1
                default:
                    index += 1
                }
            }
        }

        /// Records the end of the run of terminators at `start` and its closing quotes or brackets, if it ends a
        /// sentence or a clause, and returns the offset after them.
        private mutating func scanTerminators(
            at start: Int, in paragraph: Range<Int>, of characters: [Character]
        ) -> Int {
            var end = start
            var run = TerminatorRun()
            while end < paragraph.upperBound, self.kinds[end].isTerminator {
                run.add(self.kinds[end])
                end += 1
            }
            let runEnd = end
            while end < paragraph.upperBound, self.kinds[end].isClosing { end += 1 }
            guard end < paragraph.upperBound else { return end }
            if run.hasCJK {
                // 「行こう。」と言った: a quotation that the sentence goes on after, like "Stop!" he said.
                let goesOn = runEnd < end && (self.kinds[end] == .cjkLetter || self.kinds[end] == .cjkNonInitial)
                if goesOn {
                    self.clauseEnds.append(end)
                } else {
                    self.sentenceEnds.append(end)
                }
            } else if self.kinds[end] == .space {
                let role = self.sentenceRole(
                    of: run, at: start, closedAt: end, followedByClosing: runEnd < end, in: paragraph, characters
                )
                switch role {
                case .sentence: self.sentenceEnds.append(end)
                case .clause: self.clauseEnds.append(end)
                default: break
                }
            } else if self.kinds[end].startsCJKWord, run.isEllipsis {
                // CJK text puts "……" between characters, without spaces.
                self.clauseEnds.append(end)
            } else if self.kinds[end].startsCJKWord, run.isStrong, self.isAfterCJK(start, in: paragraph) {
                // CJK text typed with ASCII "!" and "?" has no spaces after them either.
                self.sentenceEnds.append(end)
            }
            return end
        }

        /// Records the end of the clause punctuation at `start`, if it ends a clause, and returns the offset after it.
        private mutating func scanClausePunctuation(at start: Int, in paragraph: Range<Int>) -> Int {
            let kind = self.kinds[start]
            var end = start + 1
            while end < paragraph.upperBound, self.kinds[end] == kind { end += 1 }
            while end < paragraph.upperBound, self.kinds[end].isClosing { end += 1 }
            guard end < paragraph.upperBound else { return end }
            if kind == .cjkClause || self.kinds[end] == .space {
                self.clauseEnds.append(end)
            } else if self.kinds[end].startsCJKWord, self.isAfterCJK(start, in: paragraph) {
                // CJK text puts "——", and sometimes ASCII "," and ":", between characters without spaces.
                self.clauseEnds.append(end)
            }
            return end
        }

        /// Whether the character before `index` ends a CJK word.
        private func isAfterCJK(_ index: Int, in paragraph: Range<Int>) -> Bool {
            index > paragraph.lowerBound && self.kinds[index - 1].endsCJKWord
        }

        /// What a Latin terminator run at `start`, with its closing marks ending at `end` where a space follows,
        /// ends: a sentence, a clause or nothing.
        private func sentenceRole(
            of run: TerminatorRun, at start: Int, closedAt end: Int, followedByClosing: Bool, in paragraph: Range<Int>,
            _ characters: [Character]
        ) -> Cut.Level? {
            // A normalized paragraph never ends with a space, so a word follows this one.
            var next = end + 1
            while next < paragraph.upperBound, self.kinds[next].isOpening { next += 1 }
            guard next < paragraph.upperBound, self.kinds[next] != .space else { return .sentence }
            // ". . ." and "? !": the marks belong together.
            if self.kinds[next].isTerminator { return nil }
            let nextCharacter = characters[next]
            if nextCharacter.isLowercase {
                return run.isStrong || run.isEllipsis || followedByClosing ? .clause : nil
            }
            if run.isStrong || run.isEllipsis || followedByClosing { return .sentence }
            let nextIsNumber = nextCharacter.isNumber || nextCharacter == "#"
            return self.isAbbreviation(before: start, in: paragraph, characters, nextIsNumber: nextIsNumber)
                ? nil : .sentence
        }

        /// Whether the word before the period at `period` is an abbreviation or an initial, which a period after it
        /// does not make a sentence end.
        private func isAbbreviation(
            before period: Int, in paragraph: Range<Int>, _ characters: [Character], nextIsNumber: Bool
        ) -> Bool {
            var start = period
            while start > paragraph.lowerBound, self.kinds[start - 1] != .space {
                start -= 1
                // Longer words are not abbreviations, and the cap keeps the scan linear overall.
                if period - start > Abbreviations.longest { return false }
            }
            while start < period, self.kinds[start].isOpening { start += 1 }
            return Abbreviations.contains(characters[start..<period], nextIsNumber: nextIsNumber)
        }
    }

    /// What a run of sentence terminators holds.
    struct TerminatorRun {
        /// Whether the run has `!` or `?` (or a similar strong mark).
        var isStrong = false
        /// Whether the run has `…`, or two periods or more.
        var isEllipsis: Bool { self.hasEllipsisCharacter || self.periods >= 2 }
        /// Whether the run has a CJK terminator, which ends a sentence without a following space.
        var hasCJK = false
        /// Whether the run has `…`.
        private var hasEllipsisCharacter = false
        /// How many `.` the run has.
        private var periods = 0

        /// Adds one terminator to the run.
        mutating func add(_ kind: CharacterKind) {
            switch kind {
            case .period: self.periods += 1
            case .ellipsis: self.hasEllipsisCharacter = true
            case .strongTerminator: self.isStrong = true
            case .cjkTerminator: self.hasCJK = true
            default: break
            }
        }
    }
}
