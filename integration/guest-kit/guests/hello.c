/* hello: the smallest guest.  Prints a greeting, the boot protocol and the cmdline. */
#include "kit.h"

int main(void)
{
    kit_printf("Hello from the guest kit\n");
    kit_printf("boot protocol: %s\n", kit_boot.protocol_name);
    kit_printf("cmdline: %s\n", kit_boot.cmdline);
    return KIT_EXIT_OK;
}
