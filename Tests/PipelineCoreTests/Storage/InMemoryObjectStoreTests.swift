import Foundation
import PipelineCore
import Testing

struct InMemoryObjectStoreTests {
    @Test
    func objectsRoundTripAndListSorted() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let store = InMemoryObjectStore(temporaryDirectory: scratch.url)
        try await store.put("b/one.txt", data: Data("one".utf8), contentType: "text/plain")
        let source = scratch.path("two.json")
        try Data("{}".utf8).write(to: source)
        try await store.put("a/two.json", from: source, contentType: "application/json")
        try await store.put("b/one.txt", data: Data("one again".utf8), contentType: nil)

        let file = try await store.get("b/one.txt")
        #expect(try Data(contentsOf: file) == Data("one again".utf8))
        #expect(file.lastPathComponent.hasSuffix("-one.txt"))
        #expect(try await store.data("a/two.json") == Data("{}".utf8))
        #expect(try await store.contentType("a/two.json") == "application/json")
        #expect(try await store.contentType("b/one.txt") == nil)
        #expect(try await store.exists("a/two.json"))
        #expect(try await !store.exists("a"))
        #expect(try await store.list(prefix: "") == ["a/two.json", "b/one.txt"])
        #expect(try await store.list(prefix: "b/") == ["b/one.txt"])
        #expect(try await store.list(prefix: "c").isEmpty)

        try await store.delete("b/one.txt")
        try await store.delete("b/one.txt")
        #expect(try await store.list(prefix: "") == ["a/two.json"])
    }

    @Test
    func missingObjectsAndUnsafeKeysFail() async throws {
        let store = InMemoryObjectStore()
        await #expect(throws: StorageError.notFound("a/missing.wav")) {
            try await store.get("a/missing.wav")
        }
        await #expect(throws: StorageError.invalidKey("a/../b", reason: "'.' and '..' segments are not allowed")) {
            try await store.put("a/../b", data: Data(), contentType: nil)
        }
        await #expect(throws: StorageError.self) {
            try await store.list(prefix: "/abs")
        }
    }
}
