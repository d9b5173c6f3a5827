import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// An element of an XML document from S3, parsed with bounds: what a server sends is untrusted.
///
/// Documents with a DTD are refused before parsing (S3 never sends one, and entity expansion is how a small reply
/// becomes a huge one), as are documents nested deeper than ``maxDepth``, with more than ``maxElements`` elements,
/// or with an element whose text passes ``maxTextBytes``. Namespaces are dropped: `ListBucketResult` is matched by
/// its local name.
struct S3XMLElement: Sendable, Equatable {
    static let maxDepth = 16
    static let maxElements = 100_000
    static let maxTextBytes = 64 << 10

    /// The element's local name.
    var name: String
    /// Its text content, when it has no child elements (whitespace between children is dropped).
    var text: String
    /// Its child elements, in order.
    var children: [S3XMLElement]

    /// The first child called `name`.
    func child(_ name: String) -> S3XMLElement? {
        self.children.first { $0.name == name }
    }

    /// The children called `name`.
    func children(_ name: String) -> [S3XMLElement] {
        self.children.filter { $0.name == name }
    }

    /// The text of the first child called `name`.
    func text(of name: String) -> String? {
        self.child(name)?.text
    }

    /// Parses `data` into its root element.
    ///
    /// - Throws: ``S3XMLError`` for a document that is malformed, has a DTD, or is out of bounds.
    static func parse(_ data: Data) throws(S3XMLError) -> S3XMLElement {
        guard !data.isEmpty else { throw S3XMLError(reason: "the reply is empty") }
        if data.range(of: Data("<!DOCTYPE".utf8)) != nil || data.range(of: Data("<!ENTITY".utf8)) != nil
            || data.range(of: Data("<!doctype".utf8)) != nil
        {
            throw S3XMLError(reason: "the reply has a document type declaration")
        }
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        let parsed = parser.parse()
        if let failure = builder.failure {
            throw S3XMLError(reason: failure)
        }
        guard parsed, let root = builder.root else {
            let line = parser.lineNumber
            let detail = parser.parserError.map { " (\(($0 as NSError).code))" } ?? ""
            throw S3XMLError(reason: "the reply is not well-formed XML near line \(line)\(detail)")
        }
        return root
    }
}

/// Builds the element tree from parser events, stopping the parser once a bound is passed.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    private(set) var root: S3XMLElement?
    private(set) var failure: String?
    private var stack: [S3XMLElement] = []
    private var textBytes: [Int] = []
    private var elements = 0

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        self.elements += 1
        guard self.root == nil else { return self.stop(parser, "the reply has content after its root element") }
        guard self.stack.count < S3XMLElement.maxDepth else {
            return self.stop(parser, "the reply nests deeper than \(S3XMLElement.maxDepth) elements")
        }
        guard self.elements <= S3XMLElement.maxElements else {
            return self.stop(parser, "the reply has more than \(S3XMLElement.maxElements) elements")
        }
        let local = elementName.split(separator: ":").last.map(String.init) ?? elementName
        self.stack.append(S3XMLElement(name: local, text: "", children: []))
        self.textBytes.append(0)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !self.stack.isEmpty else { return }
        self.textBytes[self.textBytes.count - 1] += string.utf8.count
        guard self.textBytes[self.textBytes.count - 1] <= S3XMLElement.maxTextBytes else {
            return self.stop(parser, "an element of the reply holds more than \(S3XMLElement.maxTextBytes) bytes")
        }
        self.stack[self.stack.count - 1].text += string
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?
    ) {
        guard var element = self.stack.popLast() else { return }
        self.textBytes.removeLast()
        if !element.children.isEmpty {
            element.text = ""
        }
        if self.stack.isEmpty {
            self.root = element
        } else {
            self.stack[self.stack.count - 1].children.append(element)
        }
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        self.parser(parser, foundCharacters: String(decoding: CDATABlock, as: UTF8.self))
    }

    private func stop(_ parser: XMLParser, _ reason: String) {
        if self.failure == nil {
            self.failure = reason
        }
        parser.abortParsing()
    }
}
