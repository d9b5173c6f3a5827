import Foundation
import Testing

@testable import S3Storage

/// Parsing what S3 servers send, and refusing what a hostile one might.
struct S3XMLTests {
    /// A page as SeaweedFS 4.48 sends it for `encoding-type=url`.
    static let seaweedPage = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>audio-test</Name><Prefix></Prefix>\
        <MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>a%20b%2Bc=d&amp;e%3Ff%25g%C3%A9/x.bin</Key>\
        <ETag>&#34;5d41402abc4b2a76b9719d911017c592&#34;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass>\
        </Contents><Contents><Key>dir/one</Key><Size>5</Size></Contents>\
        <NextContinuationToken>dir/one</NextContinuationToken><EncodingType>url</EncodingType><KeyCount>2</KeyCount>\
        </ListBucketResult>
        """

    @Test func aListingPage() throws {
        let page = try S3ListingPage(parsing: Data(Self.seaweedPage.utf8))

        #expect(page.keys == ["a b+c=d&e?f%gé/x.bin", "dir/one"])
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "dir/one")
    }

    @Test func keysAreTakenAsTheyAreWithoutURLEncoding() throws {
        let body = """
            <ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key> a+b%20c </Key></Contents>\
            </ListBucketResult>
            """

        let page = try S3ListingPage(parsing: Data(body.utf8))

        #expect(page.keys == [" a+b%20c "])
        #expect(!page.isTruncated)
    }

    @Test func anErrorReply() throws {
        let body = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match
               the  signature you provided.</Message><StringToSign>AWS4-HMAC-SHA256...</StringToSign></Error>
            """

        let reply = try #require(S3ErrorReply.parse(Data(body.utf8)))

        #expect(reply.code == "SignatureDoesNotMatch")
        #expect(reply.message == "The request signature we calculated does not match the signature you provided.")
    }

    @Test func aLongMessageIsCut() throws {
        let body = "<Error><Code>X</Code><Message>\(String(repeating: "m", count: 5000))</Message></Error>"

        let reply = try #require(S3ErrorReply.parse(Data(body.utf8)))

        #expect(reply.message.count <= S3ErrorReply.maxMessageLength + 1)
    }

    static let hostile: [(String, String)] = [
        ("empty", ""),
        ("not XML", "<html><body>502 Bad Gateway</body>"),
        ("unclosed", "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>a"),
        ("garbage", "\u{0}\u{1}\u{2}PK\u{3}\u{4}"),
        (
            "entity expansion",
            """
            <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
            <ListBucketResult><Contents><Key>&lol2;</Key></Contents></ListBucketResult>
            """
        ),
        (
            "external entity",
            """
            <?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <ListBucketResult><Contents><Key>&x;</Key></Contents></ListBucketResult>
            """
        ),
        ("deep", String(repeating: "<a>", count: 10_000) + String(repeating: "</a>", count: 10_000)),
        (
            "many elements",
            "<ListBucketResult>" + String(repeating: "<Contents><Key>k</Key></Contents>", count: 60_000)
                + "</ListBucketResult>"
        ),
        (
            "huge text",
            "<ListBucketResult><Contents><Key>\(String(repeating: "k", count: 200_000))</Key></Contents></ListBucketResult>"
        ),
        ("wrong root", "<ListAllMyBucketsResult></ListAllMyBucketsResult>"),
        ("odd truncation", "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>"),
    ]

    @Test(arguments: hostile)
    func hostileListingsAreCleanErrors(name: String, body: String) {
        #expect(throws: S3XMLError.self, "\(name)") { try S3ListingPage(parsing: Data(body.utf8)) }
        #expect(S3ErrorReply.parse(Data(body.utf8)) == nil)
    }
}
