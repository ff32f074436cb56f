// The browser UI's files, embedded in the binary (no build step, no CDN), served at / and /ui/….
import Foundation
import Hummingbird

/// The page's files by URL name. Each file of Public/ is listed once here (a test checks the list against the
/// directory); SwiftPM's `embedInCode` names each file's bytes after its base name.
enum StaticFiles {
    static let embedded: [String: [UInt8]] = [
        "index.html": PackageResources.index_html,
        "style.css": PackageResources.style_css,
        "api.js": PackageResources.api_js,
        "app.js": PackageResources.app_js,
        "colors.js": PackageResources.colors_js,
        "data.js": PackageResources.data_js,
        "dom.js": PackageResources.dom_js,
        "form.js": PackageResources.form_js,
        "layout.js": PackageResources.layout_js,
        "module.js": PackageResources.module_js,
        "modules/attention-draw.js": PackageResources.attention_draw_js,
        "modules/attention.js": PackageResources.attention_js,
        "modules/counterfactuals.js": PackageResources.counterfactuals_js,
        "modules/editor.js": PackageResources.editor_js,
        "modules/metrics-pr.js": PackageResources.metrics_pr_js,
        "modules/metrics.js": PackageResources.metrics_js,
        "modules/predictions.js": PackageResources.predictions_js,
        "modules/projector-plot.js": PackageResources.projector_plot_js,
        "modules/projector.js": PackageResources.projector_js,
        "modules/salience-panel.js": PackageResources.salience_panel_js,
        "modules/salience.js": PackageResources.salience_js,
        "modules/table-rows.js": PackageResources.table_rows_js,
        "modules/table-view.js": PackageResources.table_view_js,
        "modules/table.js": PackageResources.table_js,
        "modules/tcav.js": PackageResources.tcav_js,
        "modules/training.js": PackageResources.training_js,
        "state.js": PackageResources.state_js,
        "types.js": PackageResources.types_js,
    ]

    static func contentType(_ name: String) -> String {
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if name.hasSuffix(".html") { return "text/html; charset=utf-8" }
        return "application/octet-stream"
    }

    /// The bytes of `name`: embedded, or with a development directory the file of that name there. The name is
    /// only a key: the directory's listing is searched for it, so a request never forms a path.
    static func bytes(_ name: String, developmentDirectory: String?) -> [UInt8]? {
        guard let dir = developmentDirectory else { return embedded[name] }
        let root = URL(fileURLWithPath: dir)
        guard let listing = FileManager.default.enumerator(atPath: root.path) else { return nil }
        for case let relative as String in listing where relative == name {
            return FileManager.default.contents(atPath: root.appendingPathComponent(relative).path).map { Array($0) }
        }
        return nil
    }

    /// The page's security policy: everything from this server only, so no request leaves the host.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        + "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

    static func response(_ name: String, developmentDirectory: String?) -> Response {
        guard let bytes = bytes(name, developmentDirectory: developmentDirectory) else {
            return (try? APIError(.notFound, "not_found", "no UI file named \(name)").response())
                ?? Response(status: .notFound)
        }
        var headers = HTTPFields()
        headers[.contentType] = contentType(name)
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
