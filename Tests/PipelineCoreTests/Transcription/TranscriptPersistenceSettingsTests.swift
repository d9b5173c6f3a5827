import Foundation
import PipelineCore
import Testing

/// Where finished transcripts go, read from the variables PMOVES already sets.
struct TranscriptPersistenceSettingsTests {
    typealias Settings = TranscriptPersistence.Settings

    @Test
    func nothingIsWrittenWithoutASupabaseURLOrMediaAudio() throws {
        #expect(try Settings.from(environment: [:]) == nil)
        #expect(try Settings.from(environment: ["SUPABASE_KEY": "k", "SUPABASE_URL": "  "]) == nil)
    }

    @Test
    func supabasesBaseGetsTheRESTPathAndAPostgRESTBaseIsUsedAsGiven() throws {
        let supabase = try #require(
            try Settings.from(environment: ["SUPABASE_URL": "http://supabase:8000", "SUPABASE_KEY": "anon"]))
        #expect(supabase.restURL?.absoluteString == "http://supabase:8000/rest/v1")
        #expect(supabase.key?.reveal() == "anon")
        #expect(supabase.mediaAudioURL == nil)
        let rest = try #require(
            try Settings.from(environment: [
                "SUPABASE_URL": "http://supabase:8000", "SUPA_REST_URL": "http://postgrest:3000",
                "SUPABASE_ANON_KEY": "anon", "SUPABASE_SERVICE_ROLE_KEY": "service",
            ]))
        #expect(rest.restURL?.absoluteString == "http://postgrest:3000")
        #expect(rest.key?.reveal() == "service", "the service role key wins, as in pmoves-yt")
    }

    @Test
    func aBaseThatAlreadyEndsInTheRESTPathAndALineEndFromAnEnvFileAreTakenAsMeant() throws {
        let settings = try #require(
            try Settings.from(environment: [
                "SUPABASE_URL": "http://supabase:8000/rest/v1\r\n", "SUPABASE_SERVICE_ROLE_KEY": "service\r\n",
            ]))
        #expect(settings.restURL?.absoluteString == "http://supabase:8000/rest/v1")
        #expect(settings.key?.reveal() == "service")
    }

    @Test
    func mediaAudioAloneForwardsWithItsTimeout() throws {
        let settings = try #require(
            try Settings.from(environment: [
                "MEDIA_AUDIO_URL": "http://media-audio:8082/ingest-transcript", "MEDIA_AUDIO_TIMEOUT": "30",
            ]))
        #expect(settings.mediaAudioURL?.host == "media-audio")
        #expect(settings.mediaAudioTimeout == .seconds(30))
        #expect(settings.restURL == nil)
    }

    @Test(arguments: [
        (["SUPABASE_URL": "http://supabase:8000"], "no key"),
        (["SUPABASE_URL": "ftp://supabase", "SUPABASE_KEY": "k"], "SUPABASE_URL is not an http(s) URL"),
        (["SUPABASE_REST_URL": "postgrest:3000", "SUPABASE_KEY": "k"], "SUPABASE_REST_URL is not an http(s) URL"),
        (["SUPA_REST_URL": "http://postgrest:3000"], "SUPA_REST_URL is set but no key is"),
        (["MEDIA_AUDIO_URL": "http://"], "MEDIA_AUDIO_URL is not an http(s) URL"),
        (["MEDIA_AUDIO_URL": "http://m:8082", "MEDIA_AUDIO_TIMEOUT": "soon"], "MEDIA_AUDIO_TIMEOUT"),
        (["MEDIA_AUDIO_URL": "http://m:8082", "MEDIA_AUDIO_TIMEOUT": "-1"], "MEDIA_AUDIO_TIMEOUT"),
    ])
    func badSettingsAreRefusedByName(_ environment: [String: String], _ message: String) {
        #expect {
            _ = try Settings.from(environment: environment)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
