import PipelineCore
import Testing

struct SilenceHallucinationsTests {
    @Test(arguments: [
        "Thank you.", "you", "Bye-bye.", "Bye bye!", "OK.", "We'll see you next time.", "Thanks for watching!",
        "[Music]", "(upbeat music)", "[BLANK_AUDIO]", "*sighs*", ". .", "Subtitles by the Amara.org community",
    ])
    func whatWhisperSaysOverSilenceIsKnown(text: String) {
        #expect(SilenceHallucinations.isKnown(text))
    }

    @Test(arguments: [
        "Thank you for the report.", "Okay, let's start.", "(a) and (b)", "The weekly meeting starts at nine.",
    ])
    func speechIsNotKnown(text: String) {
        #expect(!SilenceHallucinations.isKnown(text))
    }

    @Test
    func hyphensSeparateWordsWhenNormalizing() {
        #expect(SilenceHallucinations.normalize("Bye-bye.") == "bye bye")
        #expect(SilenceHallucinations.normalize("  Thank   you! ") == "thank you")
    }

    @Test(arguments: [(".", false), (". . .", false), ("♪ ♪", false), ("-", false), ("9", true), ("Oh", true)])
    func onlyLettersAndDigitsAreWords(text: String, hasWords: Bool) {
        #expect(SilenceHallucinations.hasWords(text) == hasWords)
    }
}
