package io.dbwarden.proxy.masking;

import io.dbwarden.api.v1alpha1.MaskStrategy;
import io.dbwarden.api.v1alpha1.MaskingAction;
import org.junit.jupiter.api.Test;

import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

class XmlMaskingTest {
    private static Masker masker(MaskStrategy s) {
        MaskingAction a = new MaskingAction();
        a.setStrategy(s);
        return Masker.of(a, null, "k".getBytes(StandardCharsets.UTF_8));
    }

    private static final Masker PARTIAL = masker(MaskStrategy.PARTIAL);

    /** Parses {@code xml} as the content of one element: it must be well-formed. */
    private static void wellFormed(String xml) {
        assertThatCode(() -> DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(new ByteArrayInputStream(
                ("<root>" + xml + "</root>").getBytes(StandardCharsets.UTF_8)))).as(xml).doesNotThrowAnyException();
    }

    @Test
    void textAndAttributeValuesAreMaskedMarkupStays() {
        String out = XmlMasking.masked("<e a=\"ada@example.com\" b='x &amp; y'>ada@example.com</e><n>Ada</n>", PARTIAL);
        assertThat(out).isEqualTo("<e a=\"a***@example.com\" b=\"x &amp; *\">a***@example.com</e><n>A**</n>");
        wellFormed(out);
    }

    @Test
    void entitiesAreDecodedBeforeMaskingAndEscapedAfter() {
        String out = XmlMasking.masked("<v>Tom &lt;&amp;&gt; &#65;&#x42;</v>", PARTIAL);
        assertThat(out).isEqualTo("<v>T** &lt;&amp;&gt; **</v>");
        wellFormed(out);
    }

    @Test
    void commentsCdataAndProcessingInstructionsAreMaskedAndStayWellFormed() {
        String out = XmlMasking.masked("<?xml version=\"1.0\"?><!--ada@example.com--><c><![CDATA[secret <b>]]></c>"
                + "<?php ada@example.com?>\n  <d/>", PARTIAL);
        assertThat(out).isEqualTo("<?xml version=\"1.0\"?><!--a***@example.com--><c><![CDATA[s***** <*>]]></c>"
                + "<?php a***@example.com?>\n  <d/>");
        assertThat(out).doesNotContain("ada@", "secret");
    }

    @Test
    void whatCannotBeReadIsNotGuessed() {
        assertThat(XmlMasking.masked("<e a=\"unterminated>x</e>", PARTIAL)).isNull();
        assertThat(XmlMasking.masked("<e>&nbsp;</e>", PARTIAL)).isNull();
        assertThat(XmlMasking.masked("<!DOCTYPE e [<!ENTITY x \"ada@example.com\">]><e>&x;</e>", PARTIAL)).isNull();
        assertThat(XmlMasking.masked("<!-- open", PARTIAL)).isNull();
    }

    @Test
    void aDetectorFunctionMasksOnlyWhatItFindsAfterDecodingAndNothingFoundKeepsTheText() {
        java.util.function.UnaryOperator<String> detect = v -> v.contains("@") ? v.replace("bob@x.org", "\"<&>") : v;
        String out = XmlMasking.masked("<m to='bob&#64;x.org' n=\"1\">hi bob@x.org</m>", detect);
        assertThat(out).isEqualTo("<m to=\"&quot;&lt;&amp;&gt;\" n=\"1\">hi \"&lt;&amp;&gt;</m>");
        wellFormed(out);
        String plain = "<m  n='1'>a &amp; b</m>";
        assertThat(XmlMasking.masked(plain, detect)).isSameAs(plain);
        assertThat(XmlMasking.masked("<m>a@b</m>", v -> null)).isEqualTo("<m>[redacted]</m>");
    }
}
