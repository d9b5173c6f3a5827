import Foundation
import PipelineCore
import Testing

@testable import S3Storage

/// The signer against AWS's published vectors: the `aws-sig-v4-test-suite` cases (service `service`, 2015-08-30) and
/// the S3 examples of "Signature Calculations for the Authorization Header" (bucket `examplebucket`, 2013-05-24).
struct SigV4SignerTests {
    /// One case of the generic test suite.
    struct SuiteCase: Sendable, CustomTestStringConvertible {
        var name: String
        var method = "GET"
        var path = "/"
        var query: [(name: String, value: String)] = []
        var headers: [(name: String, value: String)] = []
        var body = ""
        var canonicalRequest: String?
        var authorization: String

        var testDescription: String { self.name }
    }

    static let suiteSigner = SigV4Signer(
        accessKey: "AKIDEXAMPLE", secretKey: Secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), region: "us-east-1",
        service: "service")
    static let suiteDate = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z
    static let suiteHeaders: [(name: String, value: String)] = [
        ("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z"),
    ]
    static let suiteScope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static let suite: [SuiteCase] = [
        SuiteCase(
            name: "get-vanilla", headers: suiteHeaders,
            canonicalRequest: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                + empty,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        ),
        SuiteCase(
            name: "get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
            headers: suiteHeaders,
            canonicalRequest: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
                + "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" + empty,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        ),
        SuiteCase(
            name: "get-vanilla-query-order-key", query: [("Param1", "value2"), ("Param1", "Value1")],
            headers: suiteHeaders,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"
        ),
        SuiteCase(
            name: "get-vanilla-query-order-value", query: [("Param1", "value2"), ("Param1", "value1")],
            headers: suiteHeaders,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"
        ),
        SuiteCase(
            name: "get-vanilla-query-unreserved",
            query: [
                (
                    "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                    "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                )
            ], headers: suiteHeaders,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"
        ),
        SuiteCase(
            name: "get-vanilla-utf8-query", query: [("ሴ", "bar")], headers: suiteHeaders,
            canonicalRequest: "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                + "host;x-amz-date\n" + empty,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"
        ),
        SuiteCase(
            name: "get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            headers: suiteHeaders,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
        ),
        SuiteCase(
            name: "get-space", path: "/example space/", headers: suiteHeaders,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"
        ),
        SuiteCase(
            name: "get-header-key-duplicate",
            headers: [
                ("Host", "example.amazonaws.com"), ("My-Header1", "value2"), ("My-Header1", "value2"),
                ("My-Header1", "value1"), ("X-Amz-Date", "20150830T123600Z"),
            ],
            canonicalRequest: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
                + "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" + empty,
            authorization: suiteScope
                + "SignedHeaders=host;my-header1;x-amz-date, "
                + "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"
        ),
        SuiteCase(
            name: "get-header-value-trim",
            headers: [
                ("Host", "example.amazonaws.com"), ("My-Header1", " value1"), ("My-Header2", " \"a   b   c\""),
                ("X-Amz-Date", "20150830T123600Z"),
            ],
            canonicalRequest: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
                + "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" + empty,
            authorization: suiteScope
                + "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                + "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        ),
        SuiteCase(
            name: "post-vanilla-query", method: "POST", query: [("Param1", "value1")], headers: suiteHeaders,
            authorization: suiteScope
                + "SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
        ),
        SuiteCase(
            name: "post-x-www-form-urlencoded", method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded")] + suiteHeaders, body: "Param1=value1",
            canonicalRequest: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
                + "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
                + "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            authorization: suiteScope
                + "SignedHeaders=content-type;host;x-amz-date, "
                + "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        ),
    ]

    @Test(arguments: suite)
    func awsTestSuite(_ vector: SuiteCase) {
        let segments = vector.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let request = SigV4Request(
            method: vector.method, encodedPath: segments.map { S3URIEncoding.encode($0) }.joined(separator: "/"),
            query: vector.query, headers: vector.headers, payloadHash: SHA256.hexHash(Array(vector.body.utf8)))

        if let canonical = vector.canonicalRequest {
            #expect(Self.suiteSigner.canonicalRequest(request) == canonical)
        }
        #expect(Self.suiteSigner.authorization(request, at: Self.suiteDate) == vector.authorization)
    }

    // MARK: S3 examples

    static let s3Signer = SigV4Signer(
        accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1", service: "s3")
    static let s3Date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    static func s3Request(
        _ method: String, path: String, query: [(name: String, value: String)] = [],
        headers: [(name: String, value: String)] = [], payloadHash: String = empty
    ) -> SigV4Request {
        SigV4Request(
            method: method, encodedPath: path, query: query,
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", payloadHash),
            ] + headers, payloadHash: payloadHash)
    }

    @Test func s3GetObjectWithRange() {
        let request = Self.s3Request("GET", path: "/test.txt", headers: [("Range", "bytes=0-9")])

        #expect(
            Self.s3Signer.stringToSign(request, at: Self.s3Date)
                == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                + "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        #expect(
            Self.s3Signer.authorization(request, at: Self.s3Date)
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func s3PutObjectWithAnEncodedKey() {
        let body = Array("Welcome to Amazon S3.".utf8)
        let hash = SHA256.hexHash(body)
        let request = Self.s3Request(
            "PUT", path: "/" + S3URIEncoding.encode("test$file.text", keepingSlashes: true),
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: hash)

        #expect(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        #expect(request.encodedPath == "/test%24file.text")
        #expect(
            Self.s3Signer.stringToSign(request, at: Self.s3Date).hasSuffix(
                "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"))
        #expect(
            Self.s3Signer.signature(request, at: Self.s3Date)
                == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    @Test func s3GetBucketLifecycleWithAValuelessParameter() {
        let request = Self.s3Request("GET", path: "/", query: [("lifecycle", "")])

        #expect(Self.s3Signer.canonicalRequest(request).hasPrefix("GET\n/\nlifecycle=\n"))
        #expect(
            Self.s3Signer.signature(request, at: Self.s3Date)
                == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    @Test func s3ListObjectsWithAnUnsortedQuery() {
        let request = Self.s3Request("GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")])

        #expect(
            Self.s3Signer.signature(request, at: Self.s3Date)
                == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    @Test func canonicalQueryEncodesWhatS3ListingsAndUploadsSend() {
        let query = SigV4Signer.canonicalQuery([
            ("prefix", "a b+c=d&e?f%g/é"), ("list-type", "2"), ("continuation-token", "x/y=="), ("uploads", ""),
        ])

        #expect(
            query
                == "continuation-token=x%2Fy%3D%3D&list-type=2&prefix=a%20b%2Bc%3Dd%26e%3Ff%25g%2F%C3%A9&uploads=")
    }

    @Test func timestampIsUTC() {
        let (dateTime, day) = SigV4Signer.timestamp(Date(timeIntervalSince1970: 1_700_000_000.9))

        #expect(dateTime == "20231114T221320Z")
        #expect(day == "20231114")
    }

    @Test func aDifferentSecretOrPayloadIsADifferentSignature() {
        let request = Self.s3Request("PUT", path: "/a", payloadHash: SHA256.hexHash(Array("one".utf8)))
        var other = Self.s3Signer
        other.secretKey = Secret("another")
        let changed = Self.s3Request("PUT", path: "/a", payloadHash: SHA256.hexHash(Array("two".utf8)))

        let signature = Self.s3Signer.signature(request, at: Self.s3Date)

        #expect(other.signature(request, at: Self.s3Date) != signature)
        #expect(Self.s3Signer.signature(changed, at: Self.s3Date) != signature)
        #expect(!Self.s3Signer.authorization(request, at: Self.s3Date).contains("wJalrXUtnFEMI"))
    }
}
