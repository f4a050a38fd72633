package dev.vmm.block;

/**
 * An image whose metadata is malformed, inconsistent or uses a feature this implementation does not
 * support. Thrown before anything proportional to the lying field is allocated.
 */
public class ImageFormatException extends BlockException {
    public ImageFormatException(String message) { super(message); }
}
