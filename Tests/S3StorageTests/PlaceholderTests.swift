import Testing

@testable import S3Storage

@Test func placeholder() {
    #expect(Bool(true))
}
