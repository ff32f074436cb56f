// libhdf5's error stack as one line, for the writer (LoupeFileWriter), the one place Loupe still calls libhdf5.

import CHDF5

/// The innermost message on this thread's HDF5 error stack (e.g. "truncated file: eof = 1024, ..."), with the
/// outermost API function for context; "unknown HDF5 error" if the stack is empty.
func hdf5ErrorDetail() -> String {
    let errorStack = hid_t(H5E_DEFAULT)
    var messages: [String] = []
    withUnsafeMutablePointer(to: &messages) { ptr in
        _ = H5Ewalk2(
            errorStack, H5E_WALK_DOWNWARD,
            { _, err, data in
                guard let err, let data else { return 0 }
                let list = data.assumingMemoryBound(to: [String].self)
                let function = err.pointee.func_name.map { String(cString: $0) } ?? "?"
                let desc = err.pointee.desc.map { String(cString: $0) } ?? ""
                list.pointee.append("\(function): \(desc)")
                return 0
            }, ptr)
    }
    H5Eclear2(errorStack)
    guard let innermost = messages.last else { return "unknown HDF5 error" }
    return messages.count > 1 ? "\(innermost) (in \(messages[0]))" : innermost
}
