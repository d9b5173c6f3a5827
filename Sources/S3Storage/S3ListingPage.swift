import Foundation

/// One page of a ListObjectsV2 reply.
struct S3ListingPage: Sendable, Equatable {
    /// The keys on the page, decoded when the reply says `EncodingType` `url`; keys that do not decode are dropped.
    var keys: [String]
    /// Whether more pages follow.
    var isTruncated: Bool
    /// The token that asks for the next page.
    var nextContinuationToken: String?

    /// Parses a `ListBucketResult` document.
    ///
    /// - Throws: ``S3XMLError`` for anything else, or for an `IsTruncated` that is neither true nor false.
    init(parsing body: Data) throws(S3XMLError) {
        let root = try S3XMLElement.parse(body)
        guard root.name == "ListBucketResult" else {
            throw S3XMLError(reason: "expected ListBucketResult, got \(root.name.prefix(64))")
        }
        switch root.text(of: "IsTruncated")?.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true"?: self.isTruncated = true
        case "false"?, nil: self.isTruncated = false
        case let other?: throw S3XMLError(reason: "IsTruncated is '\(other.prefix(32))'")
        }
        let encoded = root.text(of: "EncodingType")?.trimmingCharacters(in: .whitespaces).lowercased() == "url"
        self.keys = root.children("Contents").compactMap { contents in
            guard let key = contents.text(of: "Key") else { return nil }
            return encoded ? S3URIEncoding.decodeListingKey(key) : key
        }
        self.nextContinuationToken = root.text(of: "NextContinuationToken")
    }
}
