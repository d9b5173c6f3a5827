extension TextSplitter {
    /// Words that a period follows without ending the sentence.
    enum Abbreviations {
        /// The longest word worth looking up, in characters; longer ones are never abbreviations.
        static let longest = 12

        /// Abbreviations in any case, which a capitalized word may follow inside a sentence ("vs. Smith").
        static let anyCase: Set<String> = [
            "vs", "etc", "approx", "cf", "viz", "al", "esp", "incl",
        ]

        /// Abbreviations that are written capitalized; lowercase, most of them are ordinary words ("fig", "rep").
        static let capitalized: Set<String> = [
            "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "gov", "sen", "rep", "pres",
            "capt", "lt", "col", "sgt", "maj", "adm", "cmdr", "rev", "hon", "messrs", "mme", "mlle", "inc", "ltd", "co",
            "corp", "bros", "dept", "univ", "ave", "blvd", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
            "sept", "oct", "nov", "dec",
        ]

        /// Abbreviations that precede a number ("No. 5", "p. 12"); before a word they may end a sentence ("Say no.").
        static let beforeNumber: Set<String> = [
            "no", "nos", "nr", "p", "pp", "ca", "vol", "vols", "fig", "figs", "ch", "chap", "sec", "art", "para", "eq",
            "op",
        ]

        /// Whether `word`, the letters before a period, is an abbreviation; `nextIsNumber` tells what follows.
        static func contains(_ word: ArraySlice<Character>, nextIsNumber: Bool) -> Bool {
            guard let first = word.first, word.count <= self.longest else { return false }
            if word.count == 1, first.isLetter, first.isUppercase {
                // An initial, as in "J. R. R. Tolkien".
                return true
            }
            if word.contains(".") {
                // Letters with periods between, as in "e.g", "U.S", "a.m" and "Ph.D".
                let parts = word.split(separator: ".", omittingEmptySubsequences: false)
                return parts.allSatisfy { (1...2).contains($0.count) && $0.allSatisfy(\.isLetter) }
            }
            let lowercased = String(word).lowercased()
            if self.beforeNumber.contains(lowercased) { return nextIsNumber }
            if self.anyCase.contains(lowercased) { return true }
            return first.isUppercase && self.capitalized.contains(lowercased)
        }
    }
}
