import PipelineCore
import Testing

struct TextRepetitionTests {
    @Test(arguments: [
        "The quick brown fox jumps over the lazy dog.",
        "A journey of a thousand miles begins with a single step, and then another one follows it.",
        "Well, I think that the results we saw last quarter were better than what we had expected.",
    ])
    func ordinarySpeechIsNotRepetitive(text: String) {
        #expect(TextRepetition.compressionRatio(text) < 2.0)
    }

    @Test(arguments: [
        String(repeating: "thank you ", count: 12),
        String(repeating: "I'm going to go to the store. ", count: 6),
        "so " + String(repeating: "la ", count: 40),
    ])
    func loopsAreVeryCompressible(text: String) {
        #expect(TextRepetition.compressionRatio(text) > 2.4)
    }

    @Test(arguments: [
        ("we we we we we need to go", "we need to go"),
        ("thank you thank you thank you very much", "thank you very much"),
        ("it was very very good", "it was very very good"),
        ("go to the go to the go to the store now", "go to the store now"),
    ])
    func repeatedNGramsCollapseToOne(text: String, expected: String) {
        let words = text.split(separator: " ").map(String.init)

        #expect(TextRepetition.collapseRepeats(words).joined(separator: " ") == expected)
    }
}
