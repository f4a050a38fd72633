package dev.vmm.cli.img;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code vmm img SUB} builds only SUB's picocli model (Main, through {@link ImgCommand#subcommand}):
 * the shortcut must know every subcommand the tree has, and the model it builds must be the one the
 * tree gives that subcommand (same options, same usage text under the same qualified name).
 */
class ImgSubcommandModelTest {
    private static CommandLine tree() {
        CommandLine cl = new CommandLine(new ImgCommand());
        cl.setCommandName("vmm img"); // as Main names it
        return cl;
    }

    @Test
    void everySubcommandOfTheTreeHasTheShortcutAndNoOther() {
        Map<String, CommandLine> subs = tree().getSubcommands();
        assertThat(subs).isNotEmpty();
        for (Map.Entry<String, CommandLine> e : subs.entrySet()) {
            Object direct = ImgCommand.subcommand(e.getKey());
            assertThat(direct).as(e.getKey()).isNotNull();
            assertThat(direct.getClass()).as(e.getKey()).isEqualTo(e.getValue().getCommand().getClass());
        }
        assertThat(ImgCommand.subcommand("bogus")).isNull();
        assertThat(ImgCommand.subcommand("img")).isNull();
    }

    @Test
    void theShortcutsModelPrintsTheSameUsageAsTheTrees() {
        for (Map.Entry<String, CommandLine> e : tree().getSubcommands().entrySet()) {
            CommandLine direct = new CommandLine(ImgCommand.subcommand(e.getKey()));
            direct.setCommandName("vmm img " + e.getKey());
            assertThat(direct.getUsageMessage(CommandLine.Help.Ansi.OFF))
                    .as(e.getKey()).isEqualTo(e.getValue().getUsageMessage(CommandLine.Help.Ansi.OFF));
            assertThat(direct.getCommandSpec().options().stream().map(o -> o.longestName()).toList())
                    .as(e.getKey())
                    .isEqualTo(e.getValue().getCommandSpec().options().stream().map(o -> o.longestName()).toList());
        }
    }
}
