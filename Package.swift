// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "audio-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "audio-worker", targets: ["audio-worker"])
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavutil libswresample",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswresample-dev"])]
        ),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(name: "HTTPAPI", dependencies: ["CMicroHTTPD", "PipelineCore"], swiftSettings: swiftSettings),
        .target(name: "CurlHTTP", dependencies: ["CCurl", "PipelineCore"], swiftSettings: swiftSettings),
        .target(name: "S3Storage", dependencies: ["PipelineCore"], swiftSettings: swiftSettings),
        .target(name: "PipelineCore", swiftSettings: swiftSettings),
        .target(name: "SQLiteQueue", dependencies: ["CSQLite", "PipelineCore"], swiftSettings: swiftSettings),
        .target(name: "NATSBackend", dependencies: ["CNATS", "PipelineCore"], swiftSettings: swiftSettings),
        .target(name: "AudioMedia", dependencies: ["CFFmpeg", "PipelineCore"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "audio-worker",
            dependencies: [
                "PipelineCore", "AudioMedia", "SQLiteQueue", "NATSBackend", "CurlHTTP", "HTTPAPI", "S3Storage",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "queue-bench",
            dependencies: ["SQLiteQueue", "NATSBackend", "PipelineCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "JobQueueConformance",
            dependencies: ["PipelineCore"],
            path: "Tests/JobQueueConformance",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["PipelineCore"],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PipelineCoreTests",
            dependencies: ["PipelineCore", "JobQueueConformance"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SQLiteQueueTests",
            dependencies: ["SQLiteQueue", "PipelineCore", "queue-bench", "JobQueueConformance"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AudioMediaTests",
            dependencies: ["AudioMedia", "PipelineCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "S3StorageTests",
            dependencies: ["S3Storage", "CurlHTTP", "PipelineCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HTTPAPITests",
            dependencies: ["HTTPAPI", "PipelineCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSBackendTests",
            dependencies: ["NATSBackend", "PipelineCore", "JobQueueConformance", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "audio-worker", "PipelineCore", "AudioMedia", "CurlHTTP", "SQLiteQueue", "NATSBackend", "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
