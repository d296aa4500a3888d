L0:
(W)     mov (16|M0)              r127.0<1>:ud  0x0:ud                             
(W)     send.ugm (1|M0)          r1       r127    null:0  0xFF000000            0x6228E500           {A@1,$0} // wr:1+0, rd:2; load.ugm.d32x32t.a32.ca.ca.bti[255]
        sync.nop                             null                             {I@1}
        dpas.8x8 (16|M0)         r22:f         r22:f             r14:hf            r51.0:hf         {Compacted,$11}
        dpas.8x8 (16|M0)         r6:f          r6:f              r14:hf            r51.0:hf         {Compacted,$14}
        send.ugm (1|M0)          null     r100    null:0  0x0            0x02080203           {I@4,$1} // wr:1+0, rd:0; load_block2d.ugm.d16.a64.ca.ca
        send.ugm (1|M0)          r3       r166    null:0  0x0            0x03F00203           {A@3,$4} // wr:1+0, rd:31; load_block2d.ugm.d16.a64
        send.ugm (1|M0)          r35      r167    null:0  0x0            0x03F00283           {$5} // wr:1+0, rd:31; load_block2d.ugm.d16v.a64
        send.ugm (1|M0)          null     r67     r57:4   0x0            0x02000207           {$10} // wr:1+4, rd:0; store_block2d.ugm.d16.a64
(W)     send.dc0 (16|M0)         null     r0      r55:2   0x0            0x020F2000           {I@2,$3} // wr:1h+2, rd:0; hword scratch block write x4
        bfn.0xF8 (32|M0)         r48.0<1>:ud   r6.0<1;0>:ud      r3.0<0;0>:ud      r2.0<0>:ud       {I@4} // s0&s1|s2
L1:
