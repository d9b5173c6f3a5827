"""Unit tests for bench-accuracy's scorer and audio helpers; no server, no Piper.

Run: python3 -m unittest scripts/bench_accuracy_test.py   (or from scripts/: python3 -m unittest bench_accuracy_test)
"""

import array
import importlib.machinery
import importlib.util
import io
import math
import os
import unittest

_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-accuracy")
_loader = importlib.machinery.SourceFileLoader("bench_accuracy", _PATH)
_spec = importlib.util.spec_from_loader("bench_accuracy", _loader)
ba = importlib.util.module_from_spec(_spec)
_loader.exec_module(ba)


SENTENCES = [
    {"text": "The cat sat on the mat.", "start": 1.0, "end": 2.5, "in_stretch": False},
    {"text": "We went home in the morning.", "start": 3.5, "end": 5.0, "in_stretch": False},
    {"text": "Birds sing loudly in the morning light.", "start": 5.0, "end": 7.0, "in_stretch": True},
    {"text": "Nobody saw the little red boat again.", "start": 8.0, "end": 10.0, "in_stretch": False},
]
STRETCH = {"start": 5.0, "end": 7.0}


def perfect_hypothesis(sentences=SENTENCES, word_s=0.2):
    """Timed words exactly as spoken: each sentence's words from its true start, word_s apart."""
    hyp = []
    for s in sentences:
        for k, w in enumerate(ba.normalize(s["text"])):
            t = s["start"] + k * word_s
            hyp.append((w, t, t + word_s))
    return hyp


def words_of(k):
    return ba.normalize(SENTENCES[k]["text"])


def by_sentence(hyp):
    """Split a perfect hypothesis back into per-sentence lists."""
    out, pos = [], 0
    for s in SENTENCES:
        n = len(ba.normalize(s["text"]))
        out.append(hyp[pos:pos + n])
        pos += n
    return out


class NormalizeTest(unittest.TestCase):
    def test_lowercases_strips_punctuation_and_collapses_space(self):
        self.assertEqual(ba.normalize("  Hello,   World!  It's\tfine... "), ["hello", "world", "its", "fine"])

    def test_hyphens_split_words(self):
        self.assertEqual(ba.normalize("well-known half\u2014done"), ["well", "known", "half", "done"])

    def test_empty(self):
        self.assertEqual(ba.normalize(" ?! "), [])


class WerTest(unittest.TestCase):
    def test_identical_after_normalizing_is_zero(self):
        r = ba.wer("The cat sat.", "the  CAT, sat")
        self.assertEqual((r["wer"], r["errors"], r["N"]), (0.0, 0, 3))

    def test_one_substitution(self):
        r = ba.wer("the cat sat down", "the dog sat down")
        self.assertEqual((r["S"], r["D"], r["I"]), (1, 0, 0))
        self.assertAlmostEqual(r["wer"], 0.25)

    def test_deletion_and_insertion(self):
        r = ba.wer("a b c d", "a c d e f")
        self.assertEqual((r["S"], r["D"], r["I"]), (0, 1, 2))
        self.assertAlmostEqual(r["wer"], 3 / 4)

    def test_empty_hypothesis_is_all_deletions(self):
        r = ba.wer("one two three", "")
        self.assertEqual((r["D"], r["wer"]), (3, 1.0))

    def test_can_exceed_one(self):
        self.assertAlmostEqual(ba.wer("yes", "no no no")["wer"], 3.0)

    def test_ratio(self):
        self.assertEqual(ba.ratio(0.0, 0.0), 1.0)
        self.assertEqual(ba.ratio(0.1, 0.0), float("inf"))
        self.assertAlmostEqual(ba.ratio(0.079, 0.081), 0.975, places=3)


class AlignTest(unittest.TestCase):
    def test_ops_in_order(self):
        self.assertEqual(ba.align(list("abcd"), list("acde")), [("M", 0, 0), ("D", 1, None), ("M", 2, 1), ("M", 3, 2),
                                                                ("I", None, 3)])
        self.assertEqual(ba.align(list("abc"), list("axc")), [("M", 0, 0), ("S", 1, 1), ("M", 2, 2)])

    def test_times_break_ties(self):
        # "b" was said once; plain Levenshtein may pair it with either reference "b", times pick the right one
        ref, hyp = ["a", "b", "c", "b"], ["a", "b"]
        early = ba.align(ref, hyp, [(0, 1), (0, 1), (5, 6), (5, 6)], [0.2, 0.5])
        late = ba.align(ref, hyp, [(0, 1), (0, 1), (5, 6), (5, 6)], [0.2, 5.5])
        self.assertIn(("M", 1, 1), early)
        self.assertIn(("M", 3, 1), late)
        self.assertEqual(sum(o != "M" for o, _i, _j in early), sum(o != "M" for o, _i, _j in late))

    def test_times_never_add_edits(self):
        ref, hyp = list("abcab"), list("cab")
        plain = ba.align(ref, hyp)
        timed = ba.align(ref, hyp, [(0, 1)] * 5, [9.0, 9.0, 9.0])  # all far off: penalties everywhere
        self.assertEqual(sum(o != "M" for o, _i, _j in plain), sum(o != "M" for o, _i, _j in timed))

    def test_every_word_appears_once(self):
        ref, hyp = "the quick brown fox jumps".split(), "a quick quick fox jumped over".split()
        ops = ba.align(ref, hyp)
        self.assertEqual(sorted(i for _o, i, _j in ops if i is not None), list(range(len(ref))))
        self.assertEqual(sorted(j for _o, _i, j in ops if j is not None), list(range(len(hyp))))
        cost = sum(1 for o, _i, _j in ops if o != "M")
        self.assertEqual(cost, 4)  # the->a, +quick, jumps->jumped, +over

    def test_empty_sides(self):
        self.assertEqual(ba.align([], ["a"]), [("I", None, 0)])
        self.assertEqual(ba.align(["a"], []), [("D", 0, None)])
        self.assertEqual(ba.align([], []), [])


class TimedWordsTest(unittest.TestCase):
    def test_prefers_word_segments(self):
        doc = {"word_segments": [{"word": " Hello,", "start": 1.0, "end": 1.4}],
               "segments": [{"start": 0, "end": 9, "text": "other words"}]}
        self.assertEqual(ba.timed_words(doc), ([("hello", 1.0, 1.4)], "word_segments"))

    def test_openai_words(self):
        doc = {"words": [{"word": "hi", "start": 0.5, "end": 0.7}], "word_segments": None}
        self.assertEqual(ba.timed_words(doc)[0], [("hi", 0.5, 0.7)])

    def test_segment_words(self):
        doc = {"word_segments": None, "segments": [
            {"start": 0.0, "end": 1.0, "text": "a b", "words": [{"word": "a", "start": 0.0, "end": 0.4},
                                                               {"word": "b", "start": 0.5, "end": 1.0}]},
            {"start": 2.0, "end": 2.5, "text": "c", "words": [{"word": "c", "start": 2.0, "end": 2.5}]}]}
        words, source = ba.timed_words(doc)
        self.assertEqual([w for w, _s, _e in words], ["a", "b", "c"])
        self.assertEqual(source, "segment words")

    def test_spreads_segment_words_uniformly_without_word_times(self):
        doc = {"segments": [{"start": 10.0, "end": 12.0, "text": " One two, three four."}]}
        words, source = ba.timed_words(doc)
        self.assertEqual(source, "segments (uniform)")
        self.assertEqual([w for w, _s, _e in words], ["one", "two", "three", "four"])
        for (_w, s, e), want in zip(words, [10.0, 10.5, 11.0, 11.5]):
            self.assertAlmostEqual(s, want)
            self.assertAlmostEqual(e, want + 0.5)

    def test_word_that_normalizes_to_two_splits_its_time(self):
        words, _ = ba.timed_words({"word_segments": [{"word": "well-known", "start": 2.0, "end": 3.0}]})
        self.assertEqual(words, [("well", 2.0, 2.5), ("known", 2.5, 3.0)])

    def test_text_falls_back_to_segments(self):
        self.assertEqual(ba.transcript_text({"segments": [{"text": "a b"}, {"text": "c"}]}), "a b c")


class ScoreSentencesTest(unittest.TestCase):
    def test_perfect_hypothesis(self):
        results = ba.score_sentences(SENTENCES, perfect_hypothesis())
        for r, s in zip(results, SENTENCES):
            self.assertTrue(r["present"])
            self.assertFalse(r["duplicated"], r["duplicate_reason"])
            self.assertEqual(r["matched"], len(ba.normalize(s["text"])))
            self.assertAlmostEqual(r["start_error"], 0.0)
            self.assertEqual(r["start_word"], 0)
        summary = ba.summarize(results)
        self.assertEqual((summary["lost"], summary["duplicated"], summary["timed"]), (0, 0, 4))

    def test_shared_phrase_in_two_sentences_is_not_a_duplicate(self):
        # "in the morning" is in sentences 1 and 2 of the reference; the hypothesis has it twice, legitimately.
        results = ba.score_sentences(SENTENCES, perfect_hypothesis())
        self.assertFalse(any(r["duplicated"] for r in results))

    def test_lost_sentence(self):
        parts = by_sentence(perfect_hypothesis())
        hyp = parts[0] + parts[1] + parts[3]
        results = ba.score_sentences(SENTENCES, hyp)
        self.assertEqual([r["present"] for r in results], [True, True, False, True])
        self.assertEqual(results[2]["matched"], 0)
        self.assertIsNone(results[2]["start_error"])
        self.assertEqual(ba.summarize(results)["lost"], 1)

    def test_half_matched_is_present_less_is_lost(self):
        parts = by_sentence(perfect_hypothesis())
        sent = parts[3]  # 7 words
        junk = [("zz%d" % k, t, e) for k, (_w, t, e) in enumerate(sent)]
        keep4 = sent[:4] + junk[4:]
        keep3 = sent[:3] + junk[3:]
        self.assertTrue(ba.score_sentences(SENTENCES, parts[0] + parts[1] + parts[2] + keep4)[3]["present"])
        self.assertFalse(ba.score_sentences(SENTENCES, parts[0] + parts[1] + parts[2] + keep3)[3]["present"])

    def test_repeated_run_of_three_words_is_a_duplicate(self):
        parts = by_sentence(perfect_hypothesis())
        # a chunk overlap repeats "on the mat" right after sentence 0
        repeat = [(w, t + 1.5, e + 1.5) for w, t, e in parts[0][-3:]]
        hyp = parts[0] + repeat + parts[1] + parts[2] + parts[3]
        results = ba.score_sentences(SENTENCES, hyp)
        self.assertTrue(results[0]["duplicated"])
        self.assertIn("on the mat", results[0]["duplicate_reason"])
        self.assertEqual([r["duplicated"] for r in results[1:]], [False, False, False])
        self.assertTrue(all(r["present"] for r in results))

    def test_repeated_two_words_are_not_a_duplicate(self):
        parts = by_sentence(perfect_hypothesis())
        hyp = parts[0] + parts[1] + parts[2] + parts[3][:4] + parts[3][2:4] + parts[3][4:]  # "the little" twice
        self.assertFalse(ba.score_sentences(SENTENCES, hyp)[3]["duplicated"])

    def test_sixty_percent_of_words_again_is_a_duplicate(self):
        parts = by_sentence(perfect_hypothesis())
        # sentence 3 again with every third word garbled: no run of three, but 5 of 7 words twice
        again = [(w if k % 3 != 2 else "garbled", t + 2.2, e + 2.2) for k, (w, t, e) in enumerate(parts[3])]
        hyp = parts[0] + parts[1] + parts[2] + parts[3] + again
        r = ba.score_sentences(SENTENCES, hyp)[3]
        self.assertTrue(r["duplicated"])
        self.assertIn("of 7 words twice", r["duplicate_reason"])

    def test_half_the_words_again_is_not_a_duplicate(self):
        parts = by_sentence(perfect_hypothesis())
        again = [(w if k % 2 == 0 else "garbled", t + 2.2, e + 2.2) for k, (w, t, e) in enumerate(parts[3])]
        hyp = parts[0] + parts[1] + parts[2] + parts[3] + again  # 4 of 7 (57%), never 3 in a row
        self.assertFalse(ba.score_sentences(SENTENCES, hyp)[3]["duplicated"])

    def test_start_error_from_first_word(self):
        hyp = [(w, t + (0.3 if k < 6 else 0.0), e) for k, (w, t, e) in enumerate(perfect_hypothesis())]
        r = ba.score_sentences(SENTENCES, hyp)
        self.assertAlmostEqual(r[0]["start_error"], 0.3)
        self.assertAlmostEqual(r[0]["hyp_start"], 1.3)
        self.assertAlmostEqual(r[1]["start_error"], 0.0)

    def test_start_error_is_absolute(self):
        hyp = [(w, t - 0.25, e - 0.25) for w, t, e in perfect_hypothesis()]
        for r in ba.score_sentences(SENTENCES, hyp):
            self.assertAlmostEqual(r["start_error"], 0.25)

    def test_start_error_from_second_word_when_first_is_wrong(self):
        parts = by_sentence(perfect_hypothesis())
        first = parts[1][0]
        parts[1][0] = ("wee", first[1], first[2])
        r = ba.score_sentences(SENTENCES, [w for p in parts for w in p])[1]
        self.assertEqual(r["start_word"], 1)
        self.assertAlmostEqual(r["start_error"], 0.2)  # the second word starts one word later

    def test_no_start_error_when_first_two_words_are_wrong(self):
        parts = by_sentence(perfect_hypothesis())
        parts[1][0] = ("wee", *parts[1][0][1:])
        parts[1][1] = ("wend", *parts[1][1][1:])
        r = ba.score_sentences(SENTENCES, [w for p in parts for w in p])[1]
        self.assertTrue(r["present"])
        self.assertIsNone(r["start_error"])
        self.assertIsNone(r["start_word"])

    def test_summary_statistics(self):
        hyp = [(w, t + (0.4 if k < 6 else 0.1), e) for k, (w, t, e) in enumerate(perfect_hypothesis())]
        summary = ba.summarize(ba.score_sentences(SENTENCES, hyp))
        self.assertAlmostEqual(summary["start_error_max"], 0.4)
        self.assertAlmostEqual(summary["start_error_mean"], (0.4 + 0.1 * 3) / 4)

    def test_sentences_worse_marks_those_near_a_cut(self):
        whole = ba.score_sentences(SENTENCES, perfect_hypothesis())
        parts = by_sentence(perfect_hypothesis())
        chunked = ba.score_sentences(SENTENCES, parts[0][:-1] + parts[1] + parts[2] + parts[3][1:])
        self.assertEqual(ba.sentences_worse(SENTENCES, whole, chunked, cuts=[2.6]), [(0, -1, True), (3, -1, False)])


def segments_of(hyp, sentences=SENTENCES):
    """One segment per sentence, from a perfect hypothesis split by by_sentence."""
    return [{"start": part[0][1], "end": part[-1][2], "text": " ".join(w for w, _s, _e in part)}
            for part in by_sentence(hyp)]


class SegmentStartsTest(unittest.TestCase):
    def test_one_segment_per_sentence(self):
        hyp = [(w, t + 0.2, e + 0.2) for w, t, e in perfect_hypothesis()]
        rows, inside, unplaced = ba.segment_starts(SENTENCES, {"segments": segments_of(hyp)})
        self.assertEqual([r["sentence"] for r in rows], [0, 1, 2, 3])
        for r in rows:
            self.assertAlmostEqual(r["error"], 0.2)
        self.assertEqual((inside, unplaced), (0, 0))

    def test_segment_starting_mid_sentence_is_not_compared(self):
        segs = segments_of(perfect_hypothesis())
        # a blind cut splits sentence 2 after "birds sing": its second half starts a segment of its own
        words = segs[2]["text"].split()
        segs[2:3] = [{"start": 5.0, "end": 5.4, "text": " ".join(words[:2])},
                     {"start": 5.4, "end": 6.4, "text": " ".join(words[2:])}]
        rows, inside, unplaced = ba.segment_starts(SENTENCES, {"segments": segs})
        self.assertEqual([r["sentence"] for r in rows], [0, 1, 2, 3])
        self.assertEqual((inside, unplaced), (1, 0))

    def test_inserted_first_word_looks_at_the_second(self):
        segs = segments_of(perfect_hypothesis())
        segs[3] = dict(segs[3], start=7.6, text="um " + segs[3]["text"])
        rows, _inside, _unplaced = ba.segment_starts(SENTENCES, {"segments": segs})
        self.assertEqual(rows[3]["sentence"], 3)
        self.assertAlmostEqual(rows[3]["error"], 0.4)

    def test_segment_of_noise_is_unplaced(self):
        segs = segments_of(perfect_hypothesis()) + [{"start": 10.5, "end": 11.0, "text": "Thank you."}]
        rows, inside, unplaced = ba.segment_starts(SENTENCES, {"segments": segs})
        self.assertEqual((len(rows), inside, unplaced), (4, 0, 1))

    def test_summary(self):
        rows = [{"segment": 0, "start": 1.1, "sentence": 0, "error": 0.1},
                {"segment": 2, "start": 8.4, "sentence": 3, "error": 0.4}]
        summary = ba.summarize_segment_starts(rows, 1, 0)
        self.assertAlmostEqual(summary["max"], 0.4)
        self.assertAlmostEqual(summary["mean"], 0.25)
        self.assertEqual(summary["worst"], "segment 2 at 8.40 s, sentence #3")
        self.assertIsNone(ba.summarize_segment_starts([], 0, 0)["max"])


class HeardInOrderTest(unittest.TestCase):
    TEXTS = [s["text"] for s in SENTENCES]

    def words(self, order):
        return [w for k in order for w in ba.normalize(self.TEXTS[k])]

    def test_best_fit_finds_a_run_anywhere(self):
        hyp = "x y the cat sat on a mat z".split()
        self.assertEqual(ba.best_fit("the cat sat on the mat".split(), hyp), (1, 8))
        self.assertEqual(ba.best_fit(["q"], hyp)[0], 1)

    def test_all_heard_in_order(self):
        rows, missing, moved = ba.heard_in_order(self.TEXTS, self.words([0, 1, 2, 3]))
        self.assertEqual((missing, moved), ([], []))
        self.assertTrue(all(r["in_order"] and r["heard"] for r in rows))

    def test_missing_sentence(self):
        _rows, missing, moved = ba.heard_in_order(self.TEXTS, self.words([0, 1, 3]))
        self.assertEqual((missing, moved), ([2], []))

    def test_swapped_sentences_are_out_of_order(self):
        rows, missing, moved = ba.heard_in_order(self.TEXTS, self.words([0, 2, 1, 3]))
        self.assertEqual(missing, [])
        self.assertEqual(len(moved), 1)
        self.assertTrue(all(r["heard"] for r in rows))

    def test_a_few_misheard_words_are_still_heard(self):
        hyp = self.words([0, 1, 2, 3])
        hyp[0:2] = ["a", "bat"]
        _rows, missing, moved = ba.heard_in_order(self.TEXTS, hyp)
        self.assertEqual((missing, moved), ([], []))


class CutsTest(unittest.TestCase):
    def test_cut_in_a_pause(self):
        self.assertEqual(ba.locate_cut(3.0, SENTENCES, STRETCH), ("pause", 0.0, 0))

    def test_cut_in_speech_outside_the_stretch(self):
        kind, d, k = ba.locate_cut(9.2, SENTENCES, STRETCH)
        self.assertEqual((kind, k), ("speech", 2))
        self.assertAlmostEqual(d, 1.2)

    def test_cut_in_the_stretch_is_blind(self):
        kind, d, k = ba.locate_cut(6.2, SENTENCES, STRETCH)
        self.assertEqual((kind, k), ("blind", 2))
        self.assertAlmostEqual(d, 0.8)

    def test_chunk_cuts_and_overlap(self):
        chunks = [{"index": 1, "start": 29.0, "end": 55.0}, {"index": 0, "start": 0.0, "end": 30.0},
                  {"index": 2, "start": 55.0, "end": 60.0}]
        self.assertEqual(ba.chunk_cuts(chunks), [(29.0, 1.0), (55.0, 0.0)])


class ReportTest(unittest.TestCase):
    def test_prints_targets_with_verdicts(self):
        truth = {"sentences": SENTENCES, "duration": 11.0, "stretch": STRETCH}
        hyp = perfect_hypothesis()
        whole = {"text": " ".join(w for w, _s, _e in hyp),
                 "words": [{"word": w, "start": s, "end": e} for w, s, e in hyp]}
        parts = by_sentence(hyp)
        chunk_words = parts[0] + parts[1] + parts[2] + parts[2][-3:] + [(w, t + 0.7, e) for w, t, e in parts[3]]
        chunked = {"text": " ".join(w for w, _s, _e in chunk_words),
                   "segments": [{"id": 0, "start": 1.0, "end": 11.0, "text": "ignored"}],
                   "word_segments": [{"word": w, "start": s, "end": e} for w, s, e in chunk_words],
                   "chunks": [{"index": 0, "start": 0.0, "end": 6.5}, {"index": 1, "start": 6.0, "end": 11.0}]}
        out = io.StringIO()
        measured = ba.report(truth, whole, chunked, out=out)
        text = out.getvalue()
        self.assertIn("WER whole-file 0.000, chunked 0.115, ratio chunked/whole inf (target <= 1.00): FAIL", text)
        self.assertIn("chunked lost 0, duplicated 1; whole-file lost 0, duplicated 0", text)
        self.assertIn("(target chunked 0 lost, 0 duplicated): FAIL", text)
        self.assertIn("chunked: duplicated (repeated: the morning light)", text)
        self.assertIn("max FAIL", text)  # 0.7 s late
        self.assertIn("BLIND (pause-free stretch)", text)
        self.assertEqual(measured["chunked"]["summary"]["lost"], 0)
        self.assertEqual(measured["cuts"], [{"time": 6.0, "kind": "blind", "distance_s": 1.0, "after_sentence": 1}])

    def test_chunked_only(self):
        truth = {"sentences": SENTENCES, "duration": 11.0, "stretch": STRETCH}
        parts = by_sentence(perfect_hypothesis())
        chunked = {"text": "", "segments": [], "chunks": [],
                   "word_segments": [{"word": w, "start": s, "end": e} for w, s, e in parts[0] + parts[1] + parts[3]]}
        out = io.StringIO()
        ba.report(truth, None, chunked, out=out)
        self.assertIn("chunked: WER 1.000; sentences lost 1, duplicated 0", out.getvalue())


class AudioTest(unittest.TestCase):
    RATE = 16000

    def tone(self, seconds, amp=8000):
        n = int(seconds * self.RATE)
        return array.array("h", (int(amp * math.sin(2 * math.pi * 220 * i / self.RATE)) for i in range(n)))

    def quiet(self, seconds):
        return array.array("h", bytes(2 * int(seconds * self.RATE)))

    def test_trim_removes_leading_and_trailing_silence(self):
        sig = self.quiet(0.3) + self.tone(0.5) + self.quiet(0.2)
        self.assertAlmostEqual(len(ba.trim(sig)) / self.RATE, 0.5, delta=0.011)

    def test_squeeze_shortens_long_gaps_only(self):
        sig = self.tone(0.3) + self.quiet(0.2) + self.tone(0.3) + self.quiet(0.03) + self.tone(0.3)
        self.assertGreater(ba.longest_gap_s(sig), 0.19)
        out = ba.squeeze_gaps(sig)
        self.assertLess(ba.longest_gap_s(out), 0.05)
        removed = (len(sig) - len(out)) / self.RATE
        self.assertAlmostEqual(removed, 0.2 - ba.GAP_SHRINK_TO_S, delta=0.015)

    def test_gap_length_does_not_depend_on_alignment(self):
        for lead in (0.3, 0.3013, 0.3047):
            sig = self.tone(lead) + self.quiet(0.1) + self.tone(0.3)
            self.assertAlmostEqual(ba.longest_gap_s(sig), 0.1, delta=0.012)


if __name__ == "__main__":
    unittest.main()
