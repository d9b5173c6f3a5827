import Foundation
import PipelineCore

extension S3Bucket {
    /// The most bytes one listing page may have; 1,000 keys of 1,024 bytes each, with their XML, fit easily.
    static let maxListingPageBytes = 8 << 20

    package func list(prefix: String) async throws -> [String] {
        try StorageKey.validatePrefix(prefix)
        let pageSize = min(max(self.settings.listPageSize, 1), 1000)
        let maxKeys = self.settings.maxListedKeys
        // A page may hold fewer keys than asked for, so allow twice the pages a full listing needs.
        let maxPages = max(100, 2 * (maxKeys / pageSize + 1))
        let subject = self.subject(prefix)
        var keys: [String] = []
        var token: String?
        var tokens: Set<String> = []
        for _ in 0..<maxPages {
            var query: [(name: String, value: String)] = [
                ("list-type", "2"), ("max-keys", "\(pageSize)"), ("encoding-type", "url"),
            ]
            if !prefix.isEmpty {
                query.append(("prefix", prefix))
            }
            if let token {
                query.append(("continuation-token", token))
            }
            let call = S3Call(
                operation: "ListObjectsV2", method: .get, key: nil, query: query,
                destination: .memory(maxBytes: Self.maxListingPageBytes), timeout: self.settings.requestTimeout,
                isIdempotent: true)
            let response = try await self.send(call)
            guard response.isSuccess else {
                throw self.storageError(for: response, of: call)
            }
            let body = response.body
            let page: S3ListingPage
            do {
                page = try await runBlocking { _ in try S3ListingPage(parsing: body) }
            } catch let error as S3XMLError {
                throw StorageError.unavailable(key: subject, message: "the store sent a malformed listing: \(error)")
            }
            keys += page.keys.filter { key in
                key.hasPrefix(prefix) && (try? StorageKey.validate(key)) != nil
                    && !(key.split(separator: "/").last?.hasPrefix(FileSystemStore.temporaryPrefix) ?? false)
            }
            guard keys.count <= maxKeys else {
                throw StorageError.unavailable(key: subject, message: "the listing passed \(maxKeys) keys")
            }
            guard page.isTruncated else {
                return Self.sortedUnique(keys)
            }
            guard let next = page.nextContinuationToken, !next.isEmpty else {
                throw StorageError.unavailable(
                    key: subject, message: "the store sent a malformed listing: truncated, with no continuation token")
            }
            guard tokens.insert(next).inserted else {
                throw StorageError.unavailable(
                    key: subject, message: "the store sent a malformed listing: a continuation token came twice")
            }
            token = next
        }
        throw StorageError.unavailable(key: subject, message: "the listing did not end within \(maxPages) pages")
    }

    /// Keys sorted by UTF-8 bytes, each once.
    private static func sortedUnique(_ keys: [String]) -> [String] {
        var sorted = keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var write = 0
        for index in sorted.indices where index == 0 || sorted[index] != sorted[write - 1] {
            sorted[write] = sorted[index]
            write += 1
        }
        sorted.removeLast(sorted.count - write)
        return sorted
    }
}
